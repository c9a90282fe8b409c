"""Getting pretrained weights onto disk: cache first, download if allowed, verify, never guess.

Three ways, one per catalogue ``kind``:

- ``hf`` (timm): through ``huggingface_hub.hf_hub_download`` into the normal HF cache,
  exactly where timm's own ``pretrained=True`` looks. A file already there is used
  without any request (huggingface_hub itself would send a HEAD to check for a newer
  revision). The hub's ETag of an LFS file is its sha256; the downloaded blob is checked
  against it and deleted on a mismatch.
- ``url`` (mmcls, official GitHub releases): a plain HTTP download into
  ``<weights dir>/<source>/<file>``, written to ``<file>.part`` first. A cut connection is
  resumed with an HTTP ``Range`` request, in the same call and, if that fails too, in the
  next one. The sha256 prefix the file name carries is verified before the file is moved
  into place: on a mismatch nothing is left in the cache.
- ``manual`` (official OneDrive/BaiduYun): cannot be fetched by a program; the error
  names the link, the file name and exactly where to put it.

Offline (``HF_HUB_OFFLINE=1``, ``HRNET_WB_OFFLINE=1`` or ``--offline``) or a failed
download is one clear line (:class:`BadInput`, exit 2) naming the URL and what to do: there
is no fall back to random-init.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import BadInput
from workbench.events import Reporter
from workbench.sources.weights_catalogue import WeightsEntry

OFFLINE_ENV = "HRNET_WB_OFFLINE"
WEIGHTS_DIR_ENV = "HRNET_WB_WEIGHTS_DIR"
HF_DEFAULT_ENDPOINT = "https://huggingface.co"
HF_FALLBACK_FILE = "pytorch_model.bin"  # timm's hub repos hold both; safetensors is read first
_CHUNK = 1 << 20
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
PROBE_TIMEOUT_S = 3.0
TRY_WITHOUT_WEIGHTS = "--set model.weights=random-init to try the flow without weights"


@dataclass
class FetchedWeights:
    """Where the weights file is, and whether getting it touched the network."""

    entry: WeightsEntry
    path: Path
    cached: bool  # True: found on disk, no request made
    url: str  # where it came from (hub resolve URL, download URL, or the manual link)
    sha256: str = ""  # computed when downloaded (verified where the source publishes one)
    bytes: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.entry.key, "path": str(self.path), "cached": self.cached, "url": self.url,
                "sha256": self.sha256, "bytes": self.bytes, "seconds": round(self.seconds, 3)}


# -- where things are --------------------------------------------------------------------


def offline_reason() -> str:
    """Why the network must not be used ("" when it may be)."""
    for env in (OFFLINE_ENV, "HF_HUB_OFFLINE"):
        if os.environ.get(env, "").strip().lower() in ("1", "true", "yes", "on"):
            return f"{env}=1" if env != OFFLINE_ENV else "--offline"
    return ""


def weights_dir() -> Path:
    """The workbench's download cache: ``$HRNET_WB_WEIGHTS_DIR`` or the user cache dir."""
    env = os.environ.get(WEIGHTS_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("hrnet-wb")) / "weights"


def local_path(entry: WeightsEntry) -> Path:
    """Where a ``url`` or ``manual`` entry's file lives (or must be put)."""
    return weights_dir() / entry.source / entry.file_name


def hf_endpoint() -> str:
    """Read at call time (huggingface_hub reads ``HF_ENDPOINT`` once, at import)."""
    return os.environ.get("HF_ENDPOINT", "").strip().rstrip("/") or HF_DEFAULT_ENDPOINT


def hf_url(entry: WeightsEntry, filename: str = "") -> str:
    return f"{hf_endpoint()}/{entry.hf_repo}/resolve/main/{filename or entry.hf_file}"


def unreachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> str:
    """Why ``url``'s server (or the proxy the environment names for it) cannot be reached, "" if
    a TCP connection opens within ``timeout`` s. Sends no HTTP request (a hub's request log is
    unchanged); the name lookup runs in a thread so a dead resolver cannot hold the run."""
    import socket
    import threading
    import urllib.parse
    import urllib.request

    u = urllib.parse.urlsplit(url)
    host, port = u.hostname or "", u.port or (443 if u.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(u.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        p = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = p.hostname or host, p.port or 3128
    result: list[str] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append("")
        except socket.gaierror as exc:
            result.append(f"cannot resolve {host} ({exc.strerror or exc})")
        except OSError as exc:
            result.append(f"cannot connect to {host}:{port} ({exc.strerror or type(exc).__name__})")

    t = threading.Thread(target=probe, name="wb-reach", daemon=True)
    t.start()
    t.join(timeout + 0.5)
    return result[0] if result else f"no answer from {host}:{port} within {timeout:.0f} s"


def cached_file(entry: WeightsEntry) -> Path | None:
    """The weights file if it is already on disk; never touches the network."""
    if entry.kind == "hf":
        from huggingface_hub import try_to_load_from_cache

        from workbench.sources.timm_source import hf_cache_dir

        for name in dict.fromkeys((entry.hf_file, HF_FALLBACK_FILE)):
            hit = try_to_load_from_cache(entry.hf_repo, name, cache_dir=str(hf_cache_dir()))
            if isinstance(hit, str) and Path(hit).is_file():
                return Path(hit)
        return None
    if entry.kind in ("url", "manual"):
        p = local_path(entry)
        return p if p.is_file() else None
    return None


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


# -- the one entry point -------------------------------------------------------------------


def fetch_weights(entry: WeightsEntry, reporter: Reporter | None = None) -> FetchedWeights:
    """The weights file of ``entry``: from the cache, or downloaded and verified."""
    rep = reporter or Reporter()
    if entry.kind == "none":
        raise BadInput(f"{entry.key}: no weights are published ({entry.none})")
    hit = cached_file(entry)
    if hit is not None:
        url = hf_url(entry, hit.name) if entry.kind == "hf" else (entry.download_url() or entry.link)
        rep.log(f"{entry.key}: cache hit {hit} (no network)")
        return FetchedWeights(entry, hit, True, url)
    check_fetchable(entry)
    t0 = time.perf_counter()
    if entry.kind == "hf":
        got = _fetch_hf(entry, rep)
    else:
        got = _fetch_url(entry, rep)
    got.seconds = time.perf_counter() - t0
    return got


def check_fetchable(entry: WeightsEntry) -> None:
    """BadInput, in one line saying what to do, when ``entry`` (not cached) cannot be fetched
    now: a manual download, offline, or a server that does not answer."""
    if entry.kind == "manual":
        dest = local_path(entry)
        raise BadInput(
            f"{entry.key}: the official weights cannot be downloaded by a program: get "
            f"{entry.filename} from {entry.link} (or {entry.alt_link}) and put it at {dest}"
        )
    why, url = offline_reason(), hf_url(entry) if entry.kind == "hf" else entry.download_url()
    if why:
        dest_s = (f"the HF cache ({_hf_cache_dir()})" if entry.kind == "hf" else str(local_path(entry)))
        raise BadInput(
            f"{entry.key}: offline ({why}) and not cached in {dest_s}; fetch {url} with network "
            f"(hrnet-wb weights fetch {entry.variant} --source {entry.source}), set model.weights to a file, "
            f"or {TRY_WITHOUT_WEIGHTS}"
        )
    reason = unreachable(url)
    if reason:  # one short probe instead of huggingface_hub's 30 s of retries
        raise BadInput(
            f"{entry.key}: download of {url} failed: {reason}; with no network use --offline and a "
            f"cached copy (hrnet-wb weights fetch {entry.variant} --source {entry.source} where there "
            f"is network), set model.weights to a file, or {TRY_WITHOUT_WEIGHTS}"
        )


def preflight(source: str, variant: str, weights: str) -> None:
    """Fail before a run starts (nothing recorded or printed) when its weights cannot be had."""
    from workbench.sources.weights_catalogue import find_weights, parse_pretrained

    tag = parse_pretrained(weights)
    if tag is None or variant == "auto":
        return
    entry = find_weights(source, variant, tag)
    if entry.kind != "none" and cached_file(entry) is None:
        check_fetchable(entry)


def _hf_cache_dir() -> Path:
    from workbench.sources.timm_source import hf_cache_dir

    return hf_cache_dir()


# -- hf: through huggingface_hub ------------------------------------------------------------


def _progress_bar_class(rep: Reporter) -> Any:
    """A tqdm class huggingface_hub drives; it prints nothing and emits Progress events."""
    from huggingface_hub.utils import tqdm as hf_tqdm

    class ReporterBar(hf_tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True  # the front end draws the bar from our events
            self._wb_total = kwargs.get("total")
            self._wb_done = int(kwargs.get("initial") or 0)
            self._wb_last = 0.0
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            rep.check_cancelled()  # raises Cancelled; huggingface_hub then deletes its temp file
            self._wb_done += int(n or 0)
            now = time.monotonic()
            if now - self._wb_last > 0.1 or (self._wb_total and self._wb_done >= self._wb_total):
                self._wb_last = now
                rep.progress(self._wb_done, self._wb_total, "B")
            return None

    return ReporterBar


def _drop_hf_file(path: Path) -> None:
    """Remove a downloaded hub file: the snapshot link and the blob it points to."""
    blob = path.resolve()
    path.unlink(missing_ok=True)
    blob.unlink(missing_ok=True)


def _fetch_hf(entry: WeightsEntry, rep: Reporter) -> FetchedWeights:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError

    endpoint = hf_endpoint()
    cache = _hf_cache_dir()
    bar = _progress_bar_class(rep)
    last_error = ""
    for filename in dict.fromkeys((entry.hf_file, HF_FALLBACK_FILE)):
        url = hf_url(entry, filename)
        rep.log(f"{entry.key}: downloading {url} into the HF cache {cache}")
        try:
            path = Path(hf_hub_download(entry.hf_repo, filename, cache_dir=str(cache),
                                        endpoint=endpoint, tqdm_class=bar))
        except LocalEntryNotFoundError as exc:  # no connection, and nothing cached
            raise BadInput(f"{entry.key}: cannot reach {url} ({type(exc).__name__}); check the network, "
                           f"HF_ENDPOINT or the proxy, set model.weights to a file, or {TRY_WITHOUT_WEIGHTS}"
                           ) from None
        except EntryNotFoundError:
            last_error = f"{url} does not exist (404)"
            continue  # try the next file name
        except (HfHubHTTPError, OSError, ValueError) as exc:
            raise BadInput(f"{entry.key}: download of {url} failed ({_first_line(exc)}); run the same "
                           "command again to retry, or set model.weights to a file") from None
        digest = sha256_of(path)
        etag = path.resolve().name  # huggingface_hub names the blob after the ETag
        if _SHA256.match(etag) and digest != etag:
            _drop_hf_file(path)
            raise BadInput(f"{entry.key}: checksum mismatch for {url}: sha256 {digest[:12]}… but the hub "
                           f"says {etag[:12]}…; the file was deleted from the cache, run again to retry")
        size = path.stat().st_size
        verified = "sha256 verified against the hub's ETag" if _SHA256.match(etag) else "no checksum published"
        rep.log(f"{entry.key}: {size / 2**20:.1f} MiB, {verified}")
        return FetchedWeights(entry, path, False, url, digest, size)
    raise BadInput(f"{entry.key}: {last_error}; the catalogue's hub repo may have moved")


# -- url: a resumable, verified download ----------------------------------------------------


def _first_line(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [""])[0][:160]
    return text or type(exc).__name__


def _content_range_start(value: str | None) -> tuple[int | None, int | None]:
    m = re.match(r"bytes (\d+)-\d+/(\d+|\*)", value or "")
    if not m:
        return None, None
    return int(m.group(1)), (int(m.group(2)) if m.group(2) != "*" else None)


def _fetch_url(entry: WeightsEntry, rep: Reporter) -> FetchedWeights:
    url = entry.download_url()
    dest = local_path(entry)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if part.exists():
        rep.log(f"{entry.key}: resuming {url} at {part.stat().st_size} bytes ({part})")
    else:
        rep.log(f"{entry.key}: downloading {url} → {dest}")
    _download_resumable(url, part, rep)
    digest = sha256_of(part)
    if entry.sha256_prefix and not digest.startswith(entry.sha256_prefix):
        part.unlink(missing_ok=True)
        raise BadInput(f"{entry.key}: checksum mismatch for {url}: sha256 starts {digest[:8]} but the file "
                       f"name promises {entry.sha256_prefix}; the download was deleted, nothing was cached")
    os.replace(part, dest)
    size = dest.stat().st_size
    rep.log(f"{entry.key}: {size / 2**20:.1f} MiB, "
            + (f"sha256 prefix {entry.sha256_prefix} verified" if entry.sha256_prefix
               else f"no published checksum (sha256 {digest[:12]}…)"))
    return FetchedWeights(entry, dest, False, url, digest, size)


def _download_resumable(url: str, part: Path, rep: Reporter, max_stalls: int = 3) -> None:
    """Fill ``part`` with ``url``'s bytes, resuming with ``Range`` after a cut connection.

    Retries while attempts make progress; after ``max_stalls`` attempts in a row without
    a byte, gives up with one line and keeps ``part`` for the next run to resume.
    """
    import http.client
    import urllib.error
    import urllib.request

    from workbench import __version__

    stalls = 0
    total: int | None = None
    while True:
        have = part.stat().st_size if part.exists() else 0
        if total is not None and have >= total:
            return
        headers = {"User-Agent": f"hrnet-wb/{__version__}", "Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
        before = have
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as resp:
                start, full = _content_range_start(resp.headers.get("Content-Range"))
                if have and resp.status == 206 and start == have:
                    mode, total = "ab", full
                else:  # a fresh download, or the server ignored the Range: start over
                    have, mode = 0, "wb"
                    length = resp.headers.get("Content-Length")
                    total = int(length) if length and length.isdigit() else None
                rep.progress(have, total, "B")
                last = time.monotonic()
                with open(part, mode) as fh:
                    while True:
                        rep.check_cancelled()
                        chunk = resp.read(_CHUNK)
                        if not chunk:
                            break
                        fh.write(chunk)
                        have += len(chunk)
                        if time.monotonic() - last > 0.1:
                            last = time.monotonic()
                            rep.progress(have, total, "B")
                rep.progress(have, total, "B")
                if total is not None and have < total:
                    raise http.client.IncompleteRead(b"", total - have)
                return
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # our Range starts past the end: the part file is stale
                part.unlink(missing_ok=True)
                total = None
                continue
            raise BadInput(f"download of {url} failed: HTTP {exc.code} {exc.reason}; check the URL or "
                           "the mirror (HRNET_WB_MMCLS_BASE_URL), or download it by hand to "
                           f"{part.with_suffix('')}") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            now = part.stat().st_size if part.exists() else 0
            stalls = 0 if now > before else stalls + 1
            reason = _first_line(getattr(exc, "reason", None) or exc)
            if stalls >= max_stalls:
                kept = f"; {now} bytes kept in {part}, run again to resume" if now else ""
                raise BadInput(f"download of {url} failed ({reason}){kept}; check the network or "
                               f"proxy, or download it by hand to {part.with_suffix('')}") from None
            rep.log(f"connection lost at {now} bytes ({reason}); resuming with a Range request", "warning")
            time.sleep(0.2 * stalls)
