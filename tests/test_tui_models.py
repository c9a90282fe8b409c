"""The Models pane's details column mounts with the first profile (not before the first
frame) showing that profile's values, and picking another profile in it loads that one."""

from __future__ import annotations

import asyncio
import shutil
import time

from tui_data import REPO


async def _wait(pilot, cond, timeout=60.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout and not cond():
        await pilot.pause(0.05)
    assert cond()


def test_details_mount_with_the_profile_and_another_profile_loads(tmp_path, cost_json):
    from textual.widgets import DataTable, Input, Select

    from workbench.home import resolve_home
    from workbench.tui.app import WorkbenchApp

    home = resolve_home(tmp_path / "home")
    home.cache.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cost_json, home.cache / "cost.json")
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shutil.copyfile(REPO / "profiles" / "demo.toml", profiles / "demo.toml")
    other = profiles / "w30.toml"
    other.write_text((REPO / "profiles" / "demo.toml").read_text()
                     .replace('variant = "hrnet_w18_small"', 'variant = "hrnet_w30"')
                     .replace("input_size = [224, 224]", "input_size = [192, 256]"))
    app = WorkbenchApp(home=home, profiles_dir=profiles, run_mode="thread")

    async def run() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            pane = app.models_pane
            await _wait(pilot, lambda: pane._synced and bool(pane.query("#profile-select")))
            await pilot.pause(0.2)
            # built with the demo profile's values
            assert pane.query_one("#input-size", Input).value == "224"
            select = pane.query_one("#profile-select", Select)
            assert select.value == str(profiles / "demo.toml")
            assert "timm:hrnet_w18_small" in str(pane.query_one("#model-info").render())
            # another profile, picked in the column, is loaded and shown
            select.value = str(other)
            await _wait(pilot, lambda: app.profile.model.variant == "hrnet_w30")
            await pilot.pause(0.2)
            assert app.profile_path == str(other)
            assert pane.query_one("#input-size", Input).value == "192x256"
            table = pane.query_one("#variants", DataTable)
            assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == "hrnet_w30"
            assert "timm:hrnet_w30" in str(pane.query_one("#model-info").render())
            assert len(pane.query("#profile-select")) == 1  # the column was not mounted twice

    asyncio.run(run())
