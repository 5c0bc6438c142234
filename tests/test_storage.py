"""The commit protocol on file:// and on s3:// (moto server): new prefix, pointer last."""

from __future__ import annotations

import json

import pytest

from r2p import storage


def _write(payload: str):
    def write(prefix: storage.ObjectStoragePath) -> None:
        (prefix / "data.txt").write_text(payload)
        (prefix / "sub").mkdir(parents=True, exist_ok=True)
        (prefix / "sub" / "more.bin").write_bytes(payload.encode() * 3)

    return write


def test_commit_and_read_back(storage_root: str) -> None:
    assert storage.uri_of(storage.root()) == storage_root
    assert storage.pointer("things/a") is None and storage.current("things/a") is None
    uri = storage.commit("things/a", _write("v1"), meta={"rows": 3})
    assert uri.startswith(storage_root.split("://")[0] + "://")
    ptr = storage.pointer("things/a")
    assert ptr["uri"] == uri and ptr["rows"] == 3 and ptr["name"] == "things/a"
    current = storage.current("things/a")
    assert (current / "data.txt").read_text() == "v1"
    assert (current / "sub" / "more.bin").read_bytes() == b"v1v1v1"
    # the URI alone (what XCom carries) is enough to read it back
    assert (storage.path(uri) / "data.txt").read_text() == "v1"


def test_second_commit_replaces_and_keeps_versions_apart(storage_root: str) -> None:
    first = storage.commit("things/b", _write("old"))
    second = storage.commit("things/b", _write("new"))
    assert first != second
    assert (storage.current("things/b") / "data.txt").read_text() == "new"
    assert (storage.path(first) / "data.txt").read_text() == "old"  # never overwritten in place


def test_failed_writer_publishes_nothing(storage_root: str) -> None:
    storage.commit("things/c", _write("good"))

    def broken(prefix: storage.ObjectStoragePath) -> None:
        (prefix / "data.txt").write_text("half")
        raise RuntimeError("killed half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        storage.commit("things/c", broken)
    assert (storage.current("things/c") / "data.txt").read_text() == "good"


def test_pointer_is_written_after_the_data(storage_root: str, monkeypatch) -> None:
    seen: list[str] = []

    def spy(prefix: storage.ObjectStoragePath) -> None:
        (prefix / "data.txt").write_text("x")
        seen.append("data")
        assert storage.pointer("things/d") is None, "pointer visible before the data was written"

    storage.commit("things/d", spy)
    assert seen == ["data"] and storage.pointer("things/d") is not None


def test_json_and_sha256(storage_root: str) -> None:
    p = storage.root() / "j" / "x.json"
    storage.write_json(p, {"b": 1, "a": [1, 2]})
    assert storage.read_json(p) == {"a": [1, 2], "b": 1}
    assert p.read_text() == json.dumps({"a": [1, 2], "b": 1}, indent=2, sort_keys=True) + "\n"
    import hashlib

    assert storage.sha256(p) == hashlib.sha256(p.read_bytes()).hexdigest()


def test_local_pointer_leaves_no_temp_files(home) -> None:
    storage.commit("things/e", _write("x"))
    storage.commit("things/e", _write("y"))
    names = sorted(p.name for p in (storage.root() / "things" / "e").iterdir())
    assert names == ["_CURRENT.json", "_versions"]


def test_pointer_is_relative_to_its_folder(storage_root: str) -> None:
    """The pointer names its version relative to its own folder, so the root can move."""
    uri = storage.commit("things/r", _write("x"))
    raw = storage.read_json(storage.root() / "things" / "r" / storage.POINTER)
    assert raw["uri"] == "_versions/" + raw["version"] and "://" not in raw["uri"]
    assert storage.pointer("things/r")["uri"] == uri


def test_moved_root_rebases_old_absolute_uris(home, tmp_path, monkeypatch) -> None:
    """A root moved elsewhere: relative pointers resolve against the new root; an absolute
    URI of the old root (older pointers, records, XCom) is re-based when its tail exists."""
    import shutil

    uri = storage.commit("things/m", _write("moved"))
    legacy = storage.commit("things/l", _write("legacy"))
    ptr_file = storage.root() / "things" / "l" / storage.POINTER
    ptr_file.write_text(json.dumps({**storage.read_json(ptr_file), "uri": legacy}))
    old_root = storage.uri_of(storage.root())
    new_home = tmp_path / "moved-home"
    shutil.move(str(home), str(new_home))
    monkeypatch.setenv("R2P_HOME", str(new_home))
    new_root = storage.uri_of(storage.root())
    assert new_root != old_root
    assert (storage.current("things/m") / "data.txt").read_text() == "moved"
    assert storage.pointer("things/l")["uri"] == legacy.replace(old_root, new_root)
    assert (storage.current("things/l") / "data.txt").read_text() == "legacy"
    assert (storage.path(uri) / "sub" / "more.bin").read_bytes() == b"movedmovedmoved"
    assert storage.relative(uri) == uri[len(old_root) + 1 :]
    record = {"export_uri": uri, "nested": [{"uri": legacy}], "other": "x"}
    stored = storage.portable(record)
    assert stored["export_uri"].startswith("things/m/") and stored["other"] == "x"
    assert storage.resolved(stored)["nested"][0]["uri"].startswith(new_root + "/things/l/")
    # a URI with no storage-relative part under the root is kept as it is
    assert storage.resolve("file:///nowhere/things-else/x") == "file:///nowhere/things-else/x"
