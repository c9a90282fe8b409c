"""``hrnet-wb tui`` and ``hrnet-wb serve``: the terminal UI, here or in a browser.

``hrnet-wb`` with no command opens the same UI; ``tui`` exists so that options (``--home``,
``--profile``) can be given, and so that ``serve`` has one command line to hand to
textual-serve, which starts it once per browser session. Textual is imported only when
the UI starts, so ``hrnet-wb --help`` stays fast.
"""


import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from workbench.cli.app import app
from workbench.cli.common import HomeOpt, JsonOpt, guarded, print_json

ProfileOpt = Annotated[
    Path | None,
    typer.Option("--profile", "-p", help="Profile to start with (default: profiles/demo.toml if present).",
                 show_default=False),
]


def _checked(profile: Path | None, home: str | None, as_json: bool) -> tuple[str | None, Path]:
    """The profile's absolute path, validated before the UI starts (a bad one is one line and
    exit 2 here, not a traceback from inside the app), and the home folder."""
    from workbench.home import resolve_home

    def check() -> str | None:
        if profile is None:
            return None
        from workbench.profile import load_profile  # pydantic: only when there is one to check

        load_profile(profile)
        return str(profile.resolve())

    return guarded(check, as_json), guarded(lambda: resolve_home(home), as_json).root


@app.command(
    "tui",
    epilog=("Examples:\n\n  hrnet-wb tui\n\n  hrnet-wb tui --profile profiles/w18_fp32.toml\n\n"
            "  hrnet-wb tui --home /data/hrnet-wb-state"),
)
def tui(
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Open the terminal UI (the same as running hrnet-wb with no command)."""
    prof, root = _checked(profile, home, as_json)
    from workbench.tui import launch

    launch(home=root, profile=prof, exit_after=not as_json)
    if as_json:
        print_json({"ok": True, "home": str(root)})


def serve_command(home: str, profile: str | None) -> str:
    """The command line textual-serve runs for each browser session."""
    argv = [sys.executable, "-m", "workbench", "tui", "--home", home]
    if profile:
        argv += ["--profile", profile]
    return shlex.join(argv)


@app.command(
    "serve",
    epilog=("Examples:\n\n  hrnet-wb serve\n\n  hrnet-wb serve --port 8765\n\n"
            "  ssh -L 8000:127.0.0.1:8000 gpu-box   # then open http://127.0.0.1:8000 here\n\n"
            "  hrnet-wb serve --public --host 0.0.0.0   # prints a URL with a generated access token"),
)
def serve(
    host: Annotated[str, typer.Option(help="Address to bind. Keep 127.0.0.1 and tunnel over SSH.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    public: Annotated[bool, typer.Option(
        "--public", help="Allow a non-loopback --host; every request then needs the access token.")] = False,
    token: Annotated[str | None, typer.Option(
        help="Access token for --public (default: $HRNET_WB_SERVE_TOKEN, else a generated one).",
        show_default=False)] = None,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Serve the terminal UI in a browser (textual-serve); Ctrl+C stops the server.

    Loopback only unless --public, which requires an access token (textual-serve itself has
    no authentication). A busy port or a bad host is one line and exit 2.
    """
    from workbench.cli import serve_access as sa

    prof, root = _checked(profile, home, as_json)
    command = serve_command(str(root), prof)

    def listen() -> tuple[object, str | None]:
        tok = sa.access_token(public, token)
        sa.check_binding(host, port, public)
        return sa.bind(host, port), tok

    sock, tok = guarded(listen, as_json)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}" + (f"/?token={tok}" if tok else "")
    if as_json:
        print_json({"ok": True, "url": url, "host": host, "port": port, "public": public,
                    "token_required": tok is not None, "command": command})
    else:
        typer.echo(f"serving the hrnet-wb TUI at {url} (Ctrl+C stops)", err=True)
    server = guarded(lambda: sa.make_server(command, sock, host, port, tok,  # type: ignore[arg-type]
                                            "HRNet Workbench"), as_json)
    guarded(server.serve, as_json)
