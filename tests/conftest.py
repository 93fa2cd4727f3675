from __future__ import annotations

import pytest

from redline import Screen


@pytest.fixture(scope="session")
def screen() -> Screen:
    """The shipped screen, loaded once: the encoder takes about a second to load."""
    return Screen.default()
