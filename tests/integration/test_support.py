"""The test infrastructure itself: registries, proxy counts and faults, auth modes, images."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import json
import ssl
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
import zstandard
from tests.conftest import TLS_USER, TOKEN_USER, ImageBuilder, config_for
from tests.support.cleanup import mounts_under, remove_tree
from tests.support.images import (
    BuiltImage,
    Credentials,
    ImageSpec,
    ManifestFormat,
    Platform,
    build_index,
    push_raw,
    skopeo_transport_flags,
)
from tests.support.layers import (
    Compression,
    Device,
    Dir,
    Entry,
    Fifo,
    File,
    Hardlink,
    Layer,
    OpaqueWhiteout,
    Symlink,
    Whiteout,
)
from tests.support.proxy import Fault, classify
from tests.support.registry import Registry, free_port
from tests.support.tls import TLSFiles
from tests.support.tokenserver import TokenRegistry, decode_claims

Response = tuple[int, Mapping[str, str], bytes]


def fetch(
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> Response:
    # Only http(s) URLs of registries the tests started.
    request = urllib.request.Request(url, method=method, headers=dict(headers or {}))  # noqa: S310
    try:
        with urllib.request.urlopen(request, context=context, timeout=60) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["skopeo", "--insecure-policy", *args], capture_output=True, text=True, check=False
    )


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


ALL_ENTRIES: list[Entry] = [
    Dir("etc", mode=0o750, uid=1, gid=2),
    File("etc/config", "key=value\n", mode=0o640, uid=1000, gid=1000, mtime=1234567890),
    File("etc/secret", b"\x00\x01", xattrs={"user.origin": "tests"}),
    Symlink("etc/link", "config"),
    Hardlink("etc/hard", "etc/config"),
    File("d/" + "n" * 120 + "/" + "f" * 150, "long name"),
    Whiteout("usr/gone"),
    OpaqueWhiteout("var/cache"),
    Device("dev/null", 1, 3),
    Device("dev/sda", 8, 0, kind="block", mode=0o660),
    Fifo("run/pipe"),
]


# --- layers and images, no registry needed ------------------------------------------------------


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_layer_round_trips_every_entry_kind(compression: Compression) -> None:
    blob = Layer(ALL_ENTRIES, compression).build()
    assert blob.digest == sha256(blob.data)
    if compression == "gzip":
        tar = gzip.decompress(blob.data)
    elif compression == "zstd":
        tar = zstandard.ZstdDecompressor().decompress(blob.data)
    else:
        tar = blob.data
    assert blob.diff_id == sha256(tar)
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        members = {member.name: member for member in archive.getmembers()}
    cases: dict[str, Callable[[tarfile.TarInfo], bool]] = {
        "etc": lambda m: m.isdir() and m.mode == 0o750 and (m.uid, m.gid) == (1, 2),
        "etc/config": lambda m: m.isfile() and m.mode == 0o640 and m.mtime == 1234567890,
        "etc/secret": lambda m: m.pax_headers["SCHILY.xattr.user.origin"] == "tests",
        "etc/link": lambda m: m.issym() and m.linkname == "config",
        "etc/hard": lambda m: m.islnk() and m.linkname == "etc/config",
        "d/" + "n" * 120 + "/" + "f" * 150: lambda m: m.isfile() and m.size == 9,
        "usr/.wh.gone": lambda m: m.isfile() and m.size == 0,
        "var/cache/.wh..wh..opq": lambda m: m.isfile(),
        "dev/null": lambda m: m.ischr() and (m.devmajor, m.devminor) == (1, 3),
        "dev/sda": lambda m: m.isblk() and m.mode == 0o660,
        "run/pipe": lambda m: m.isfifo(),
    }
    assert set(members) == set(cases)
    for name, check in cases.items():
        assert check(members[name]), name


def test_builds_are_reproducible() -> None:
    spec = ImageSpec(layers=[Layer(ALL_ENTRIES)], cmd=["/bin/true"])
    assert spec.build().digest == spec.build().digest


def test_config_carries_run_settings_and_diff_ids() -> None:
    spec = ImageSpec(
        layers=[Layer([File("a", "1")]), Layer([File("b", "2")], "zstd")],
        entrypoint=["/bin/sh", "-c"],
        cmd=["echo hi"],
        env=["A=1"],
        working_dir="/srv",
        user="65534:65534",
        platform=Platform(architecture="arm64", variant="v8"),
    )
    built = spec.build()
    config = json.loads(built.config)
    assert config["config"] == {
        "Env": ["A=1"],
        "Entrypoint": ["/bin/sh", "-c"],
        "Cmd": ["echo hi"],
        "WorkingDir": "/srv",
        "User": "65534:65534",
    }
    assert config["rootfs"]["diff_ids"] == built.diff_ids
    assert (config["os"], config["architecture"], config["variant"]) == ("linux", "arm64", "v8")
    manifest = json.loads(built.manifest)
    assert [layer["digest"] for layer in manifest["layers"]] == built.layer_digests
    assert manifest["layers"][1]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd"


def test_hello_binary_prints_the_greeting(image_builder: ImageBuilder) -> None:
    result = subprocess.run(
        [str(image_builder.hello_binary())], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "Hello from hybridock!" in result.stdout
    assert image_builder.hello_binary().stat().st_size < 64 * 1024


def test_busybox_image_has_applets_users_and_sticky_tmp(image_builder: ImageBuilder) -> None:
    built = image_builder.busybox()
    assert isinstance(built, BuiltImage)
    layer = built.layers[0]
    with tarfile.open(fileobj=io.BytesIO(layer.data)) as archive:
        members = {member.name: member for member in archive.getmembers()}
        passwd = archive.extractfile("etc/passwd")
        assert passwd is not None
        assert passwd.read().decode().startswith("root:x:0:0:")
    assert members["bin/sh"].islnk()
    assert members["bin/sh"].linkname == "bin/busybox"
    assert members["usr/bin/env"].issym()
    assert members["usr/bin/env"].linkname == "/bin/busybox"
    assert members["tmp"].mode == 0o1777
    assert json.loads(built.config)["config"]["Cmd"] == ["sh"]


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/v2/", ("ping", None, None)),
        ("GET", "/v2/a/b/blobs/sha256:" + "0" * 64, ("blob_get", "a/b", "sha256:" + "0" * 64)),
        ("HEAD", "/v2/a/blobs/sha256:" + "1" * 64, ("blob_head", "a", "sha256:" + "1" * 64)),
        ("GET", "/v2/library/x/manifests/latest", ("manifest_get", "library/x", "latest")),
        ("POST", "/v2/a/blobs/uploads/", ("blob_upload", "a", None)),
        ("GET", "/v2/a/tags/list", ("tags", "a", None)),
        ("GET", "/v2/_catalog", ("catalog", None, None)),
    ],
    ids=["ping", "blob-get", "blob-head", "manifest", "upload", "tags", "catalog"],
)
def test_classify_requests(
    method: str, path: str, expected: tuple[str, str | None, str | None]
) -> None:
    assert classify(method, path) == expected


def test_remove_tree_handles_read_only_directories(tmp_path: Path) -> None:
    root = tmp_path / "store"
    (root / "locked").mkdir(parents=True)
    (root / "locked" / "file").write_text("x")
    (root / "locked").chmod(0o500)
    remove_tree(root)
    assert not root.exists()


@pytest.mark.root
def test_remove_tree_unmounts_first(tmp_path: Path) -> None:
    root = tmp_path / "store"
    (root / "mnt").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(root / "mnt")], check=True)
    assert mounts_under(root) == [(root / "mnt").resolve()]
    remove_tree(root)
    assert not root.exists()
    assert mounts_under(tmp_path) == []


# --- the plain registry -------------------------------------------------------------------------

registry_tests = pytest.mark.registry


@registry_tests
@pytest.mark.parametrize(
    ("manifest_format", "compression"),
    [("oci", "gzip"), ("oci", "zstd"), ("oci", "none"), ("docker", "gzip"), ("docker", "none")],
    ids=["oci-gzip", "oci-zstd", "oci-none", "docker-gzip", "docker-none"],
)
def test_pushed_image_is_pulled_back_byte_for_byte(
    registry: Registry,
    tmp_path: Path,
    manifest_format: ManifestFormat,
    compression: Compression,
) -> None:
    spec = ImageSpec(layers=[Layer(ALL_ENTRIES[:6], compression), Layer([Whiteout("etc/hard")])])
    pushed = registry.push(spec.build(manifest_format), f"support/{manifest_format}-{compression}")
    inspect = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{pushed.reference}")
    assert inspect.returncode == 0, inspect.stderr
    assert inspect.stdout.encode() == pushed.built.manifest
    copy = skopeo(
        "copy",
        "--preserve-digests",
        "--src-tls-verify=false",
        f"docker://{pushed.digest_reference}",
        f"dir:{tmp_path / 'copy'}",
    )
    assert copy.returncode == 0, copy.stderr
    for digest, data in pushed.image.blobs().items():
        assert (tmp_path / "copy" / digest.removeprefix("sha256:")).read_bytes() == data
    assert registry.blob_gets() == len(pushed.image.blobs())


@registry_tests
@pytest.mark.parametrize("manifest_format", ["oci", "docker"])
def test_multi_platform_index(registry: Registry, manifest_format: ManifestFormat) -> None:
    platforms = [
        Platform(architecture="amd64"),
        Platform(architecture="arm64", variant="v8"),
        Platform(architecture="arm", variant="v7"),
    ]
    images = [
        ImageSpec(layers=[Layer([File("arch", p.architecture)])], platform=p).build(manifest_format)
        for p in platforms
    ]
    index = build_index(images, manifest_format)
    pushed = registry.push(index, f"support/multi-{manifest_format}")
    status, headers, body = fetch(
        f"{registry.url}/v2/{pushed.repository}/manifests/{pushed.tag}",
        headers={"Accept": index.media_type},
    )
    assert (status, body) == (200, index.manifest)
    assert headers["Docker-Content-Digest"] == index.digest
    arm = index.for_platform(platforms[1])
    status, _, body = fetch(
        f"{registry.url}/v2/{pushed.repository}/manifests/{arm.digest}",
        headers={"Accept": arm.media_type},
    )
    assert (status, body) == (200, arm.manifest)


@registry_tests
def test_counts_blob_gets_per_digest_and_resets(registry: Registry) -> None:
    pushed = registry.push(ImageSpec(layers=[Layer([File("a", "count me")])]).build(), "support/c")
    layer = pushed.layer_digests[0]
    assert registry.requests == []
    url = f"{registry.url}/v2/{pushed.repository}/blobs/{layer}"
    for _ in range(2):
        assert fetch(url)[0] == 200
    assert fetch(url, method="HEAD")[0] == 200
    assert registry.blob_gets(layer) == 2
    assert registry.count("blob_head", reference=layer) == 1
    assert registry.blob_gets(pushed.config_digest) == 0
    registry.reset_requests()
    assert registry.blob_gets() == 0


@registry_tests
def test_corrupt_blob_is_served_as_changed(registry: Registry) -> None:
    pushed = registry.push(ImageSpec(layers=[Layer([File("a", "x" * 500)])]).build(), "support/bad")
    layer = pushed.layer_digests[0]
    original = registry.corrupt_blob(layer)
    url = f"{registry.url}/v2/{pushed.repository}/blobs/{layer}"
    try:
        status, _, body = fetch(url)
        assert status == 200
        assert len(body) == len(original)
        assert sha256(body) != layer
    finally:
        registry.restore_blob(layer, original)
    assert sha256(fetch(url)[2]) == layer


@registry_tests
def test_injected_status_then_recovery(registry: Registry) -> None:
    pushed = registry.push(ImageSpec(layers=[Layer([File("a", "retry")])]).build(), "support/f")
    url = f"{registry.url}/v2/{pushed.repository}/blobs/{pushed.layer_digests[0]}"
    registry.inject(Fault("blob_get", status=429, headers={"Retry-After": "0"}, times=2))
    assert [fetch(url)[0] for _ in range(3)] == [429, 429, 200]
    assert [r.status for r in registry.requests] == [429, 429, 200]


@registry_tests
def test_truncated_body_then_range_resume(registry: Registry) -> None:
    data = bytes(range(256)) * 400
    pushed = registry.push(
        ImageSpec(layers=[Layer([File("big", data)], "none")]).build(), "support/range"
    )
    layer = pushed.image.layers[0]
    path = f"/v2/{pushed.repository}/blobs/{layer.digest}"
    registry.inject(Fault("blob_get", reference=layer.digest, truncate_after=1000))
    connection = http.client.HTTPConnection("127.0.0.1", registry.port, timeout=60)
    connection.request("GET", path)
    response = connection.getresponse()
    with pytest.raises(http.client.IncompleteRead) as cut:
        response.read()
    connection.close()
    assert len(cut.value.partial) == 1000
    status, _headers, rest = fetch(registry.url + path, headers={"Range": "bytes=1000-"})
    assert status == 206
    assert cut.value.partial + rest == layer.data


@registry_tests
def test_registry_down_and_up_again(
    registry_factory: Callable[..., Registry], image_builder: ImageBuilder
) -> None:
    registry = registry_factory()
    pushed = image_builder.push(image_builder.hello(), registry, "library/hello-world")
    registry.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{registry.url}/v2/", timeout=10)  # noqa: S310
    registry.start()
    status, _, body = fetch(
        f"{registry.url}/v2/library/hello-world/manifests/latest",
        headers={"Accept": pushed.built.media_type},
    )
    assert (status, body) == (200, pushed.built.manifest)


@registry_tests
def test_push_raw_uploads_exact_bytes(registry: Registry) -> None:
    built = ImageSpec(layers=[Layer([File("raw", "bytes")])]).build()
    digest = push_raw(
        registry.url,
        "support/raw",
        built.digest,
        manifest=built.manifest,
        media_type=built.media_type,
        blobs=built.blobs(),
    )
    assert digest == built.digest
    status, _, body = fetch(
        f"{registry.url}/v2/support/raw/manifests/{digest}",
        headers={"Accept": built.media_type},
    )
    assert (status, body) == (200, built.manifest)


# --- TLS + htpasswd -----------------------------------------------------------------------------


@registry_tests
@pytest.mark.parametrize(
    ("credentials", "expected"),
    [(TLS_USER, 200), ((TLS_USER[0], "wrong"), 401), (("nobody", "x"), 401), (None, 401)],
    ids=["right-password", "wrong-password", "unknown-user", "anonymous"],
)
def test_tls_registry_checks_passwords(
    tls_registry: Registry, credentials: tuple[str, str] | None, expected: int
) -> None:
    headers = {"Authorization": Credentials(*credentials).basic_header()} if credentials else {}
    status, _, _ = fetch(
        f"{tls_registry.url}/v2/", headers=headers, context=tls_registry.client_context()
    )
    assert status == expected


@registry_tests
def test_tls_registry_needs_the_test_ca(tls_registry: Registry) -> None:
    with pytest.raises(urllib.error.URLError) as refused:
        urllib.request.urlopen(f"{tls_registry.url}/v2/", timeout=10)  # noqa: S310
    assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)


@registry_tests
@pytest.mark.parametrize(("password", "ok"), [(TLS_USER[1], True), ("wrong", False)])
def test_tls_registry_with_skopeo(
    tls_registry: Registry, image_builder: ImageBuilder, password: str, ok: bool
) -> None:
    pushed = image_builder.push(image_builder.hello(), tls_registry, "library/hello-world")
    assert tls_registry.tls is not None
    result = skopeo(
        "inspect",
        "--raw",
        *skopeo_transport_flags(
            "",
            tls_verify=True,
            cert_dir=tls_registry.tls.cert_dir,
            credentials=Credentials(TLS_USER[0], password),
        ),
        f"docker://{pushed.reference}",
    )
    assert (result.returncode == 0) == ok, result.stderr
    if ok:
        assert result.stdout.encode() == pushed.built.manifest


# --- token auth ---------------------------------------------------------------------------------


def _token_pull(
    token_registry: TokenRegistry, reference: str, credentials: Credentials | None
) -> subprocess.CompletedProcess[str]:
    return skopeo(
        "inspect",
        "--raw",
        *skopeo_transport_flags("", tls_verify=False, cert_dir=None, credentials=credentials),
        f"docker://{token_registry.registry.address}/{reference}",
    )


@registry_tests
@pytest.mark.parametrize(
    ("repository", "credentials", "ok"),
    [
        ("public/hello", None, True),
        ("library/hello-world", None, True),
        ("private/hello", None, False),
        ("private/hello", Credentials(*TOKEN_USER), True),
        ("private/hello", Credentials(TOKEN_USER[0], "wrong"), False),
    ],
    ids=[
        "anonymous-public",
        "anonymous-library",
        "anonymous-private",
        "user-private",
        "wrong-password",
    ],
)
def test_token_registry_pulls(
    token_registry: TokenRegistry,
    image_builder: ImageBuilder,
    repository: str,
    credentials: Credentials | None,
    ok: bool,
) -> None:
    pushed = image_builder.push(image_builder.hello(), token_registry, repository)
    token_registry.reset()
    result = _token_pull(token_registry, f"{repository}:latest", credentials)
    assert (result.returncode == 0) == ok, result.stderr
    requests = token_registry.tokens.requests
    assert requests, "the client never asked the token server"
    if credentials is not None and credentials.password == "wrong":
        assert requests[-1].status == 401
    elif ok:
        assert result.stdout.encode() == pushed.built.manifest
        assert requests[-1].granted == [
            {"type": "repository", "name": repository, "actions": ["pull"]}
        ]


@registry_tests
@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({}, 200),
        ({"key_header": "kid"}, 200),
        ({"audience": "other-service"}, 401),
        ({"issuer": "someone-else"}, 401),
        ({"expires_in": -3600}, 401),
    ],
    ids=["valid-x5c", "valid-kid", "wrong-audience", "wrong-issuer", "expired"],
)
def test_registry_checks_token_claims(
    token_registry: TokenRegistry,
    image_builder: ImageBuilder,
    claims: dict[str, object],
    expected: int,
) -> None:
    image_builder.push(image_builder.hello(), token_registry, "public/claims")
    access = [{"type": "repository", "name": "public/claims", "actions": ["pull"]}]
    token = token_registry.tokens.issue("", access, **claims)  # type: ignore[arg-type]
    assert decode_claims(token)["access"] == access
    status, _, _ = fetch(
        f"{token_registry.registry.url}/v2/public/claims/manifests/latest",
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.oci.image.manifest.v1+json",
        },
    )
    assert status == expected


@registry_tests
def test_token_challenge_names_realm_and_service(token_registry: TokenRegistry) -> None:
    status, headers, _ = fetch(f"{token_registry.registry.url}/v2/")
    assert status == 401
    challenge = headers["Www-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'realm="{token_registry.tokens.realm}"' in challenge
    assert f'service="{token_registry.tokens.service}"' in challenge


# --- the CLI fixtures ---------------------------------------------------------------------------


@registry_tests
def test_hybridock_env_points_at_the_registry(
    hybridock_env: dict[str, str], registry: Registry, hybridock_root: Path
) -> None:
    config = json.loads(Path(hybridock_env["HYBRIDOCK_CONFIG"]).read_text())
    assert config == {
        "registry-mirrors": {"docker.io": [registry.url]},
        "insecure-registries": [registry.address],
        "registry-ca-files": {},
    }
    assert hybridock_env["HYBRIDOCK_ROOT"] == str(hybridock_root)


@registry_tests
def test_config_for_a_tls_registry_names_its_ca(tls_registry: Registry) -> None:
    assert tls_registry.tls is not None
    assert config_for([tls_registry]) == {
        "registry-mirrors": {"docker.io": [tls_registry.url]},
        "insecure-registries": [],
        "registry-ca-files": {tls_registry.address: str(tls_registry.tls.ca_cert)},
    }


# --- the offline demo ---------------------------------------------------------------------------

DEMO_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "demo-registry"


def demo(state: Path, port: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEMO_SCRIPT), *args, "--state-dir", str(state), "--port", port],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@registry_tests
def test_demo_registry_start_status_stop(tmp_path: Path) -> None:
    port = str(free_port())
    try:
        for _ in range(2):  # start is idempotent
            started = demo(tmp_path, port, "start")
            assert started.returncode == 0, started.stderr
            assert started.stdout == f"export HYBRIDOCK_CONFIG={tmp_path / 'hybridock.json'}\n"
        status = demo(tmp_path, port, "status")
        assert status.returncode == 0, status.stdout
        assert "library/hello-world:latest sha256:" in status.stdout
        config = json.loads((tmp_path / "hybridock.json").read_text())
        assert config["registry-mirrors"] == {"docker.io": [f"http://127.0.0.1:{port}"]}
        inspect = skopeo(
            "inspect", "--tls-verify=false", f"docker://127.0.0.1:{port}/library/busybox:latest"
        )
        assert inspect.returncode == 0, inspect.stderr
    finally:
        stopped = demo(tmp_path, port, "stop")
    assert stopped.stdout == "demo registry stopped\n"
    assert demo(tmp_path, port, "status").returncode == 3


@registry_tests
def test_demo_registry_as_the_default_config_says_how_to_undo_it(tmp_path: Path) -> None:
    """quickstart's set-up: the demo becomes docker.io's mirror in hybridock's default config
    file (none there yet), and ``stop`` names what quickstart made, for the user to remove."""
    port = str(free_port())
    state, default = tmp_path / "state", tmp_path / "etc" / "hybridock" / "config.json"
    link = tmp_path / "bin" / "hybridock"
    link.parent.mkdir()
    link.symlink_to(sys.executable)
    try:
        for _ in range(2):  # a second quickstart finds the config its own
            started = demo(
                state, port, "start", "--default-config", str(default), "--record", str(link)
            )
            assert (started.returncode, started.stdout) == (0, ""), started.stderr
        config = json.loads(default.read_text())
        assert config["registry-mirrors"] == {"docker.io": [f"http://127.0.0.1:{port}"]}
    finally:
        stopped = demo(state, port, "stop")
    assert stopped.stdout == (
        "demo registry stopped\n"
        "quickstart also made these; to undo it:\n"
        f"  rm {link}\n"
        f"  rm {default}\n"
    )
    assert default.exists() and link.is_symlink()


@registry_tests
def test_demo_registry_leaves_someone_elses_default_config_alone(tmp_path: Path) -> None:
    port = str(free_port())
    state, default = tmp_path / "state", tmp_path / "config.json"
    default.write_text('{"max-concurrent-downloads": 2}\n')
    try:
        started = demo(state, port, "start", "--default-config", str(default))
        assert started.returncode == 0, started.stderr
        assert started.stdout == f"export HYBRIDOCK_CONFIG={state / 'hybridock.json'}\n"
        assert f"{default} exists" in started.stderr
    finally:
        stopped = demo(state, port, "stop")
    assert default.read_text() == '{"max-concurrent-downloads": 2}\n'
    assert stopped.stdout == "demo registry stopped\n"


@registry_tests
def test_redirect_fault_sends_the_client_elsewhere(registry: Registry) -> None:
    pushed = registry.push(ImageSpec(layers=[Layer([File("a", "moved")])]).build(), "support/r")
    layer = pushed.layer_digests[0]
    registry.inject(Fault("blob_get", redirect=registry.backend_url))
    status, _, body = fetch(f"{registry.url}/v2/{pushed.repository}/blobs/{layer}")
    assert (status, sha256(body)) == (200, layer)
    assert [(r.kind, r.status) for r in registry.requests] == [("blob_get", 307)]


@registry_tests
def test_publish_library_images(registry: Registry, image_builder: ImageBuilder) -> None:
    published = image_builder.publish_library(registry)
    for name, pushed in published.items():
        status, headers, _ = fetch(
            f"{registry.url}/v2/library/{name}/manifests/latest",
            method="HEAD",
            headers={"Accept": pushed.built.media_type},
        )
        assert (status, headers["Docker-Content-Digest"]) == (200, pushed.digest)


@registry_tests
def test_push_by_digest_leaves_no_tag(registry: Registry) -> None:
    built = ImageSpec(layers=[Layer([File("only", "by digest")])]).build()
    pushed = registry.push(built, "support/untagged", tag=None)
    assert pushed.reference == f"{registry.address}/support/untagged@{built.digest}"
    inspect = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{pushed.reference}")
    assert inspect.stdout.encode() == built.manifest
    status, _, body = fetch(f"{registry.url}/v2/support/untagged/tags/list")
    assert status == 404 or json.loads(body)["tags"] in (None, [])


@registry_tests
def test_token_registry_over_tls(
    tmp_path: Path, tls_files: TLSFiles, image_builder: ImageBuilder
) -> None:
    bundle = TokenRegistry.create(tmp_path, users={"carol": "secret"}, tls=tls_files)
    try:
        pushed = image_builder.push(image_builder.hello(), bundle, "public/tls-hello")
        result = skopeo(
            "inspect",
            "--raw",
            *skopeo_transport_flags(
                "", tls_verify=True, cert_dir=tls_files.cert_dir, credentials=None
            ),
            f"docker://{pushed.reference}",
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.encode() == pushed.built.manifest
    finally:
        bundle.stop()
