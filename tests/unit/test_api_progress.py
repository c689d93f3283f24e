"""The ``progress`` text of the Engine API's pull messages, as dockerd 20.10 writes it (its
JSONProgress.String() for a 200-column bar): strings taken from dockerd's own streams."""

from __future__ import annotations

import pytest

from hybridock.api.images import progress_text


@pytest.mark.parametrize(
    ("current", "total", "text"),
    [
        pytest.param(32768, 2592000, "[>" + " " * 50 + "]  32.77kB/2.592MB", id="start"),
        pytest.param(
            1296000, 2592000, "[" + "=" * 25 + ">" + " " * 25 + "]  1.296MB/2.592MB", id="half"
        ),
        pytest.param(2592000, 2592000, "[" + "=" * 50 + ">]  2.592MB/2.592MB", id="whole"),
        pytest.param(0, 30720, "[>" + " " * 50 + "]       0B/30.72kB", id="nothing-yet"),
        pytest.param(3000, 2000, "[" + "=" * 50 + ">]      3kB", id="more-than-said"),
        pytest.param(1500, 0, "   1.5kB", id="no-total"),
        pytest.param(0, 0, "", id="nothing"),
    ],
)
def test_progress_text_is_dockerds(current: int, total: int, text: str) -> None:
    assert progress_text(current, total) == text
