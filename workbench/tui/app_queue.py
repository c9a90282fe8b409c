"""The run queue: queueing, starting, cancelling and clearing builds, the pipeline's
events, the one worker-state handler (every worker error becomes the error modal and the
queue moves on), the quit path and the refresh of the result panes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import work
from textual.worker import Worker, WorkerState

from workbench.errors import Cancelled
from workbench.events import RunFinished, RunStarted
from workbench.tui.app_profile import ProfileOwner
from workbench.tui.bridge import PipelineMessage, ProgressMessage, make_sink
from workbench.tui.jobs import Job
from workbench.tui.messages import BackgroundFailed, CancelRun, ClearQueue, OpenRuns, QueueRun
from workbench.tui.runner import PipelineJob
from workbench.tui.screens.error import ErrorModal, describe
from workbench.tui.screens.models import ModelsPane

__all__ = ["QueueOwner"]


class QueueOwner(ProfileOwner):
    """The queue of jobs and what the pipeline reports about them."""

    # -- the queue ---------------------------------------------------------------------
    def on_queue_run(self, _message: QueueRun) -> None:
        self.queue_current()

    def on_cancel_run(self, _message: CancelRun) -> None:
        self.cancel_running()

    def on_clear_queue(self, _message: ClearQueue) -> None:
        self.clear_queue()

    def on_open_runs(self, message: OpenRuns) -> None:
        self.open_in_dataset(message.a, message.b)

    def on_background_failed(self, message: BackgroundFailed) -> None:
        title, msg = describe(message.error)
        self.push_screen(ErrorModal(title, msg))

    def _show_queue(self) -> None:
        if self.build_pane is not None:  # else it shows the job list when it mounts
            self.build_pane.show_queue(self.jobs)

    def queue_current(self) -> Job:
        prof = self.profile.model_copy(deep=True)
        m, b = prof.model, prof.build
        label = f"{prof.name or 'run'} {m.variant.removeprefix('hrnet_')} {b.backend}-{b.dtype}"
        job = Job(len(self.jobs) + 1, label, prof, self.profile_path)
        self.jobs.append(job)
        self.action_show_pane("build")
        self._show_queue()
        self.start_next()
        return job

    def running_job(self) -> Job | None:
        return next((j for j in self.jobs if j.status in ("running", "cancelling")), None)

    def start_next(self) -> None:
        if self.running_job() is not None:
            return
        job = next((j for j in self.jobs if j.status == "queued"), None)
        if job is None:
            return
        job.pipeline = PipelineJob(job.profile, self.home, make_sink(self, job.id),
                                   job.profile_path, mode=self.run_mode)
        job.status = "running"
        self.models_pane.pause_counting(True)
        job.worker = self.run_job(job)
        self._show_queue()

    @work(thread=True, exclusive=True, group="pipeline", exit_on_error=False)
    def run_job(self, job: Job) -> dict[str, Any]:
        """The same ``run_profile`` the CLI runs; errors go to the state handler."""
        assert job.pipeline is not None
        return job.pipeline.run()

    def cancel_running(self, quiet: bool = False, reason: str = "cancelled by the user",
                       now: bool = False) -> bool:
        job = self.running_job()
        if job is None or job.pipeline is None:
            if not quiet:
                self.notify("nothing is running", severity="warning", timeout=2)
            return False
        if job.status != "cancelling":
            job.status = "cancelling"
            job.pipeline.cancel(reason, now=now)
            self._show_queue()
            self._tell(f"cancelling #{job.id}…", 2)
        return True

    def _tell(self, text: str, timeout: float) -> None:
        """A toast, unless the Build pane is in view: its queue and log say it already,
        and a toast there would cover the log's last lines."""
        if self.tabs.active != "build":
            self.notify(text, timeout=timeout)

    def clear_queue(self) -> None:
        before = len(self.jobs)
        self.jobs = [j for j in self.jobs if j.status != "queued"]
        self._show_queue()
        self.notify(f"dropped {before - len(self.jobs)} queued run(s)", timeout=2)

    async def action_quit(self) -> None:
        """Quit now; a running build is cancelled first (its record says cancelled).
        Counting and loading run on daemon threads, so nothing else holds the exit."""
        if self.can_leave_at_once():
            self.leave("cancelled: the app quit (Ctrl+Q)")
        if self.cancel_running(quiet=True):  # in-process builds, tests: wait for the record
            self._quit_after_job = True
            return
        self.stop_background()
        self.exit()

    def on_exit_app(self, _message: Any) -> None:
        """Textual's ExitApp (a closed browser tab, SIGTERM under serve): as Ctrl+Q."""
        if self.can_leave_at_once():
            self.leave("cancelled: the session ended (browser tab closed or server stopped)")
        self.cancel_running(quiet=True, reason="cancelled: the app closed", now=True)

    def can_leave_at_once(self) -> bool:
        """Whether quitting may end the process without the event loop (any thread; see
        :mod:`workbench.tui.quick_quit`): only as ``hrnet-wb`` runs it, and only when a
        running build is in a process of its own (it records itself on the way out)."""
        job = self.running_job()
        return self.exit_process_on_quit and (job is None or self.run_mode == "process")

    def leave(self, reason: str, code: int = 0) -> None:
        """Cancel a running build with ``reason`` (its process is signalled and records
        itself), stop the counting, restore the terminal and end the process. Any thread."""
        self.stop_background(reason)
        from workbench.tui.quick_quit import leave_now

        leave_now(self._driver, code)

    def stop_background(self, reason: str = "") -> None:
        """End the counting child and, with a ``reason``, cancel a running build at once
        (any thread: both only signal processes)."""
        models = self._panes.get("models")
        if isinstance(models, ModelsPane):
            models.stop_counting()
        job = self.running_job()
        if reason and job is not None and job.pipeline is not None:
            job.pipeline.cancel(reason, now=True)

    # -- events from the pipeline ------------------------------------------------------
    def _job(self, job_id: int) -> Job | None:
        return next((j for j in self.jobs if j.id == job_id), None)

    def on_pipeline_message(self, message: PipelineMessage) -> None:
        self._apply(message)

    def on_progress_message(self, message: ProgressMessage) -> None:
        self._apply(message)

    def _apply(self, message: PipelineMessage) -> None:
        job = self._job(message.job_id)
        if job is None:
            return
        ev = message.event
        if isinstance(ev, RunStarted):
            job.run_id = ev.run_id
        elif isinstance(ev, RunFinished):
            job.status = ev.status if job.status != "cancelling" or ev.status == "cancelled" else job.status
        self.to_pane("build", lambda pane: pane.apply(job, ev))
        if isinstance(ev, (RunStarted, RunFinished)):
            self._show_queue()

    # -- the one worker-state handler ----------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker, state = event.worker, event.state
        if worker.group == "pipeline":
            self._pipeline_state(worker, state)
            return
        if state == WorkerState.ERROR and worker.error is not None:
            title, msg = describe(worker.error)
            self.push_screen(ErrorModal(title, msg))

    def _pipeline_state(self, worker: Worker[Any], state: WorkerState) -> None:
        job = next((j for j in self.jobs if j.worker is worker), None)
        if job is None or state not in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            return
        outcome = job.pipeline.outcome if job.pipeline else None
        if state == WorkerState.SUCCESS:
            job.status = "ok"
            self._tell(f"run {job.run_id} finished", 3)
        elif isinstance(worker.error, Cancelled) or state == WorkerState.CANCELLED:
            job.status = "cancelled"
            latency = outcome.cancel_latency_s if outcome else None
            how = f" {latency:.1f} s after the request" if latency is not None else ""
            by = f" ({outcome.stopped_by})" if outcome and outcome.stopped_by else ""
            line = f"run {job.run_id} cancelled{how}{by}"
            self.to_pane("build", lambda pane: pane.log_line(line, "yellow"))
            self._tell(f"run {job.run_id} cancelled", 3)
        else:
            job.status = "failed"
            error = worker.error or RuntimeError("unknown error")
            title, msg = describe(error)
            job.error = msg
            detail = ""
            if job.run_id is not None:
                row = self.store.run_record(job.run_id)
                tb = Path(row["out_dir"]) / "traceback.txt" if row and row.get("out_dir") else None
                detail = f"run {job.run_id} recorded as failed"
                if tb is not None and tb.is_file():
                    detail += f"; traceback: {tb}"
            self.push_screen(ErrorModal(title, msg, detail))
        self._show_queue()
        self.refresh_results(job)
        if self._quit_after_job:
            self.exit()
            return
        self.start_next()
        if self.running_job() is None:
            self.models_pane.pause_counting(False)

    def refresh_results(self, job: Job | None = None) -> None:
        """Re-read the store; a finished run becomes the Dataset pane's A (its target build)
        and B (its fp32 reference), so the two are side by side without any key press."""
        from workbench.tui.results import builds_in

        if self.leaderboard_pane is not None:
            self.leaderboard_pane.reload()
        a = b = None
        if job is not None and job.run_id is not None:
            row = self.store.run_record(job.run_id)
            built = [bd["name"] for bd in (row or {}).get("summary", {}).get("builds", [])]
            have = set(builds_in(row["out_dir"])) if row else set()
            built = [n for n in built if n in have]
            if built:
                a = f"{job.run_id}/{built[-1]}"
                b = f"{job.run_id}/{built[0]}" if len(built) > 1 else None
        self.to_pane("dataset", lambda pane: pane.reload(a, b))

    def open_in_dataset(self, a: str, b: str | None = None) -> None:
        self.action_show_pane("dataset")
        self.to_pane("dataset", lambda pane: pane.open_runs(a, b))
