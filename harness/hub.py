"""Is the Hugging Face hub usable right now? Answered once per process, in at most a few seconds.

Without this, a hub id on a machine without network costs a minute of retry messages from huggingface_hub
(five retries per file, with back-off) before its error. One quick probe instead: when the hub cannot be
reached, the process switches to offline mode (what HF_HUB_OFFLINE=1 does), so whatever is in the local cache
still loads at once, and what is not fails at once with one line that names the fix.
"""

from __future__ import annotations

import os
import sys
import threading
import urllib.error
import urllib.request

PROBE_SECONDS = 3.0  # DNS, connect and the first answer together; the hub answers in well under a second
_TRUE = ("1", "true", "yes", "on")
_probed: dict[str, str | None] = {}  # endpoint -> why it is unreachable (None: reachable)


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def offline_by_env() -> bool:
    return any(os.environ.get(v, "").lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"))


def unavailable() -> str | None:
    """Why the hub cannot be used (HF_HUB_OFFLINE set, or the endpoint does not answer), or None when it can.

    The first call that finds it unreachable switches this process to offline mode (see `go_offline`)."""
    if offline_by_env():
        return "the hub is offline (HF_HUB_OFFLINE is set)"
    url = endpoint()
    if url not in _probed:
        _probed[url] = _probe(url)
        if _probed[url] is not None:
            go_offline()
    why = _probed[url]
    return None if why is None else f"the hub {url} cannot be reached ({why})"


def _probe(url: str, seconds: float = PROBE_SECONDS) -> str | None:
    """One HEAD request through the usual proxy settings. Any HTTP answer, even an error status, means the
    hub is there; a thread bounds the whole probe, name resolution included (urllib's timeout does not)."""
    out: list[str | None] = []

    def ask() -> None:
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=seconds).close()
            out.append(None)
        except urllib.error.HTTPError:
            out.append(None)
        except urllib.error.URLError as e:
            out.append(str(getattr(e, "reason", e)) or type(e).__name__)
        except (OSError, ValueError) as e:
            out.append(str(e) or type(e).__name__)

    t = threading.Thread(target=ask, daemon=True)
    t.start()
    t.join(seconds)
    return out[0] if out else f"no answer within {seconds:g} s"


def go_offline() -> None:
    """Offline mode for this process: the environment for what is imported later, the flags of what already is."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = True  # type: ignore[attr-defined]
    config = sys.modules.get("datasets.config")
    if config is not None:
        config.HF_HUB_OFFLINE = True  # type: ignore[attr-defined]
        config.HF_DATASETS_OFFLINE = True  # type: ignore[attr-defined]


FIX_ONLINE = "or go online (unset HF_HUB_OFFLINE, or set HF_ENDPOINT to a mirror that answers)"
