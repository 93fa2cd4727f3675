from __future__ import annotations

import inspect

import redline


def test_public_api_is_explicit_and_complete() -> None:
    public = {
        name
        for name in dir(redline)
        if not name.startswith("_") and not inspect.ismodule(getattr(redline, name))
    }
    assert set(redline.__all__) == public
    for name in redline.__all__:
        assert getattr(redline, name) is not None
