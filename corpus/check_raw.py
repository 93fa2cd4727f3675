"""Check a raw corpus file: python corpus/check_raw.py corpus/raw/fr.jsonl"""
import collections, json, sys
KINDS = {"surv:direct": "RL-SURV", "surv:disguised": "RL-SURV", "surv:technical": "RL-SURV",
         "auto:direct": "RL-AUTO", "auto:disguised": "RL-AUTO", "auto:technical": "RL-AUTO"}
NEG = {"neg:foreign-intel", "neg:warrant", "neg:aggregate", "neg:own-network", "neg:discussion",
       "neg:summary", "neg:privacy", "neg:military-support", "neg:human-decision", "neg:interception",
       "neg:nonforce-autonomy", "everyday", "homonym"}
for path in sys.argv[1:]:
    ids, texts, kinds, groups = set(), set(), collections.Counter(), collections.defaultdict(set)
    bad = 0
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        if not line.strip():
            continue
        try:
            o = json.loads(line)
            assert set(o) >= {"id", "lang", "group", "label", "kind", "text"}, "missing field"
            assert o["id"] not in ids, "duplicate id"
            assert o["text"].strip() and o["text"] not in texts, "empty or duplicate text"
            want = KINDS.get(o["kind"]) or ("allowed" if o["kind"] in NEG else None)
            assert want, f"unknown kind {o['kind']}"
            assert o["label"] == want, f"label {o['label']} does not fit kind {o['kind']}"
        except Exception as e:  # report and go on
            bad += 1
            print(f"{path}:{n}: {e}")
            continue
        ids.add(o["id"]); texts.add(o["text"]); kinds[o["kind"]] += 1; groups[o["group"]].add(o["label"])
    lonely = sum(1 for g in groups.values() if g & {"RL-SURV", "RL-AUTO"} and "allowed" not in g)
    print(f"{path}: {len(ids)} items, {bad} bad, {lonely} red-line groups without a lawful twin")
    for k, c in sorted(kinds.items()):
        print(f"  {k:24} {c}")
