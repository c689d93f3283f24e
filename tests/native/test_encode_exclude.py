"""``encode_layer(exclude=...)``: named paths are left out of the layer with what they hold,
the rest as without it (a commit leaves out the runtime's mount points)."""

from __future__ import annotations

import tarfile
from pathlib import Path

from hybridock import _native


def test_excluded_paths_and_their_contents_are_left_out(tmp_path: Path) -> None:
    source = tmp_path / "upper"
    (source / "etc" / "sub").mkdir(parents=True)
    for name in ("etc/hosts", "etc/kept", "etc/sub/deep", "etc2", "top"):
        (source / name).write_text(name)
    out = tmp_path / "layer.tar"
    result = _native.encode_layer(
        str(source), str(out), "none", exclude=["etc/hosts", "etc/sub", "top", "not/there"]
    )
    with tarfile.open(out) as layer:
        names = layer.getnames()
    assert names == ["etc", "etc/kept", "etc2"]
    assert result.entries == len(names)
    whole = _native.encode_layer(str(source), str(tmp_path / "whole.tar"), "none")
    assert whole.entries == 7
