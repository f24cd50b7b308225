"""The App's actions of the key table (bindings.py) other than switching views: those that start, stop or open
something for the selected stage, run or job (b, t, R, s, v, d, o, O, c, p, l, q) and small ones (m, ?, r,
ctrl+s, a). A mixin of ``MotipApp``: it decides what the selection means and hands the work to the view that owns
it (launches and stops: JobsView; the preflight: screens/doctor.py in a worker; saving: BudgetEditor)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual import work

from motip.jobs import OUTPUT_FILE
from motip.rundir import TRAIN_LOG
from motip_tui import launch
from motip_tui.messages import PreflightDone, Say
from motip_tui.runs import RunSummary, sources_match_stage, stage_of_run
from motip_tui.screens.modals import ConfirmScreen, HelpScreen

if TYPE_CHECKING:
    from motip_tui.app import MotipApp

RESUMABLE = ("stopped", "dead", "failed")


class LaunchActions:
    def highlighted_run(self: MotipApp) -> RunSummary | None:
        return self.stages_view.highlighted_run()

    def action_build(self: MotipApp) -> None:
        stage, ws = self.stage, self.workspace
        if ws is None:
            self.say("read-only: fix config.toml first", "error")
            return
        name = f"build {stage.name}" if stage else "build"

        def go() -> None:
            assert self.workspace is not None
            self.jobs_view.launch("build", name, launch.build_argv(self.workspace))
        if stage is not None and not sources_match_stage(ws, stage):
            def answer(yes: bool | None) -> None:
                if yes:
                    self.action_apply_stage()
                    go()
            self.push_screen(ConfirmScreen(f"Apply {stage.name}'s budgets to config.toml, then build?"), answer)
            return
        go()

    def action_train(self: MotipApp) -> None:
        stage = self.stage
        if stage is None:
            self.say("select a stage first (needs a readable config.toml with [[stages]])", "error")
        elif not stage.config.exists():
            self.say(f"stage config not found: {stage.config}", "error", notify=True)
        else:
            self.preflight(f"training of {stage.name}", stage.config, launch.train_argv(stage))

    def action_resume(self: MotipApp) -> None:
        run = self.highlighted_run()
        if run is None:
            self.say("select a run first (Stages view, lower table)", "warning")
            return
        if run.state not in RESUMABLE:
            self.say(f"{run.name} is {run.state}: only a {'/'.join(RESUMABLE)} run can be resumed", "warning",
                     notify=True)
            return
        stage = stage_of_run(run, self.stages, self.root)
        config = launch.run_config(run.dir, stage.config if stage else None)
        self.preflight(f"resume of {run.name}", config, launch.resume_argv(run.dir))

    @work(thread=True, group="preflight")
    def preflight(self: MotipApp, name: str, config: Path, argv: list[str]) -> None:
        """`motip doctor` (a subprocess, screens/doctor.py) before a GPU launch; a FAIL asks: launch anyway?"""
        from motip_tui.screens import doctor

        if not doctor.doctor_wanted(config, self.root):
            self.post_message(PreflightDone(name, argv, None))
            return
        self.post_message(Say(f"motip doctor: checking {name} before the launch (up to a minute)..."))
        self.post_message(PreflightDone(name, argv, doctor.run_doctor(self.root, config)))

    def on_preflight_done(self: MotipApp, message: PreflightDone) -> None:
        from motip_tui.screens import doctor

        outcome, name = message.outcome, message.name
        if outcome is None or outcome.ok:
            self.say(f"starting {name}..." if outcome is None else f"doctor: {outcome.summary()}; starting {name}...")
            self.jobs_view.start_training(name, message.argv)
            return

        def answer(launch_anyway: bool | None) -> None:
            if launch_anyway:
                self.say(f"starting {name} despite the doctor's FAILs...", "warning")
                self.jobs_view.start_training(name, message.argv)
            else:
                self.say(f"{name} not started: {outcome.summary()}", "warning")
        self.push_screen(doctor.DoctorScreen(name, outcome), answer)

    def action_stop(self: MotipApp) -> None:
        jobs = self.jobs_view
        job = jobs.selected() if self.active == "jobs" else None
        run = self.selected_run if self.active == "charts" else self.highlighted_run()
        if job is None and run is not None:
            job = next((j for j in jobs.jobs if j.dir == run.dir and jobs.state(j) == "running"), None)
        jobs.stop(job)

    def action_viz(self: MotipApp) -> None:
        run = self.highlighted_run()
        if run is None or self.workspace is None:
            self.say("select a run first (Stages view, lower table)", "warning")
            return
        stage = stage_of_run(run, self.stages, self.root)
        self.jobs_view.launch_edited("viz", f"viz {run.name}", launch.viz_argv(self.workspace, run.dir, stage))

    def action_dashboard(self: MotipApp) -> None:
        run = self.highlighted_run()
        if run is None:
            self.say("select a run first (Stages view, lower table)", "warning")
            return
        self.jobs_view.launch_edited("dashboard", f"dashboard {run.name}", launch.dashboard_argv(run.dir))

    def action_queue_start(self: MotipApp) -> None:
        if self.workspace is None or self.stage is None:
            self.say("no stages to queue", "error")
            return
        names = [s.name for s in self.stages[self.stages.index(self.stage):]]
        self.jobs_view.launch_edited("queue", "queue", launch.queue_start_argv(self.workspace, names))

    def action_queue_stop(self: MotipApp) -> None:
        if self.workspace is not None:
            self.jobs_view.launch("queue", "queue stop", launch.queue_argv(self.workspace, "stop"))

    def action_queue_resume(self: MotipApp) -> None:
        if self.workspace is not None:
            self.jobs_view.launch("queue", "queue resume", launch.queue_argv(self.workspace, "resume"))

    def action_compare(self: MotipApp) -> None:
        run = self.highlighted_run()
        if run is None or run.dir == self.compare_dir:
            self.compare_dir = None
            self.say("compare overlay cleared")
        else:
            self.compare_dir = run.dir
            self.say(f"comparing with {run.name} (c again on it to clear)")
        self.stages_view.compare_dir = self.compare_dir
        self.stages_view.fill_runs()
        self.show_charts()

    def action_pictures(self: MotipApp) -> None:
        """The run's dashboard and viz contact sheet; in the Stages view's stage table, the stage's latest run."""
        view = self.stages_view
        runs = view.stage_runs()
        stage_table = self.focused is not None and self.focused.id == "stage-table"
        run = (runs[-1] if runs else None) if self.active == "stages" and stage_table else self.highlighted_run()
        if run is None:
            self.say("no run to show pictures of (train the stage first)", "warning", notify=True)
            return
        try:
            from motip_tui.screens.picture import PictureScreen
        except ImportError as err:
            self.say(f"pictures are not available in this version ({err})", "warning", notify=True)
            return
        self.push_screen(PictureScreen(run.dir, self.root))

    def action_logs(self: MotipApp) -> None:
        """The log viewer: the highlighted job's output (Jobs view) and its run's train.log, else the run's."""
        paths: list[tuple[str, Path]] = []
        job = self.jobs_view.selected() if self.active == "jobs" else None
        run_dir = job.run_dir if job is not None else None
        if job is not None:
            paths.append(("job output", job.output_path))
        else:
            run = self.selected_run if self.active == "charts" else self.highlighted_run()
            run_dir = run.dir if run is not None else None
        if run_dir is not None:
            paths.insert(0, (TRAIN_LOG, run_dir / TRAIN_LOG))
            if job is None and (run_dir / OUTPUT_FILE).exists():
                paths.append(("job output", run_dir / OUTPUT_FILE))
        if not paths:
            self.say("no job or run selected", "warning")
            return
        try:
            from motip_tui.screens.log_viewer import LogViewerScreen
        except ImportError as err:
            self.say(f"the log viewer is not available in this version ({err})", "warning", notify=True)
            return
        self.push_screen(LogViewerScreen(paths))

    def action_messages(self: MotipApp) -> None:
        self.view_of("#message-log").toggle_class("shown")

    def action_help(self: MotipApp) -> None:
        self.push_screen(HelpScreen())

    def action_rescan(self: MotipApp) -> None:
        self.stages_view.rescan()
        self.jobs_view.rescan()
        self.say("rescanning runs and jobs")

    def action_save(self: MotipApp) -> None:
        self.editor.save()

    def action_apply_stage(self: MotipApp) -> None:
        self.editor.apply_stage()

    def action_quit_app(self: MotipApp) -> None:
        running = self.jobs_view.running
        if running:
            names = ", ".join(f"{j.name} (pid {j.pid})" for j in running)
            self.quit_message = f"{len(running)} job(s) keep running: {names}. Run motip-tui again to re-attach."
        else:
            self.quit_message = "no jobs running."
        self.exit(message=self.quit_message)
