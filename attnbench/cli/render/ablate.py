"""``ablate``: progress on stderr, the summary on stdout."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .cells import millions
from .console import info, stderr, stdout
from .profile import width_label

if TYPE_CHECKING:
    from ...ablation.run import AblationEvent, AblationResult
    from ...ablation.spec import AblationSpec


class _ProgressSink:
    """Turns ``AblationEvent``s into two rich bars (sweep, current run) or, off a terminal, one line per run."""

    def __init__(self, live: bool) -> None:
        self.live = live
        self.progress: Any = None
        self.sweep: Any = None
        self.run: Any = None

    def __enter__(self) -> _ProgressSink:
        if self.live:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=stderr,
                transient=True,
            )
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def __call__(self, ev: AblationEvent) -> None:
        label = f"{ev.module} seed {ev.seed}"
        if not self.live:
            if ev.kind == "done" and ev.record is not None:
                r = ev.record
                score = _run_score(r) if r.top1 is not None else f"failed: {r.error}"
                info(f"run {ev.index + 1}/{ev.total} {label}: {score} ({r.train_seconds:.1f} s training)")
            elif ev.kind == "skip":
                info(f"run {ev.index + 1}/{ev.total} {label}: already in the CSV, skipped")
            return
        p = self.progress
        if self.sweep is None:
            self.sweep = p.add_task("sweep", total=ev.total, info="")
        if ev.kind in ("skip", "done"):
            p.update(self.sweep, completed=ev.index + 1, info=f"{ev.index + 1}/{ev.total} runs")
            if self.run is not None:
                p.remove_task(self.run)
                self.run = None
            if ev.kind == "done" and ev.record is not None:
                r = ev.record
                score = _run_score(r) if r.top1 is not None else f"[red]failed[/red]: {r.error}"
                p.console.print(f"run {ev.index + 1}/{ev.total} {label}: {score} ({r.train_seconds:.1f} s training)")
        elif ev.kind == "start":
            p.update(self.sweep, info=f"{ev.index}/{ev.total} runs")
            self.run = p.add_task(label, total=None, info="building")
        elif ev.kind == "step" and ev.train is not None and self.run is not None:
            t = ev.train
            done = (t.epoch - 1) * t.steps + t.step
            text = (
                f"epoch {t.epoch}/{t.epochs}  step {t.step}/{t.steps}  loss {t.loss:.3f}  acc {100 * t.accuracy:.1f}%"
            )
            p.update(self.run, total=t.epochs * t.steps, completed=done, info=text)


class ablation_progress:
    """Context manager yielding the progress callback (``None`` when quiet)."""

    def __init__(self, quiet: bool) -> None:
        self.sink = None if quiet else _ProgressSink(live=stderr.is_terminal)

    def __enter__(self) -> Callable[[AblationEvent], None] | None:
        return self.sink.__enter__() if self.sink else None

    def __exit__(self, *exc: object) -> None:
        if self.sink:
            self.sink.__exit__(*exc)


def _pct(v: float | None, digits: int = 2) -> str:
    return "–" if v is None else f"{100 * v:.{digits}f}"


def _p(p: float | None) -> str:
    return "–" if p is None else (f"{p:.3f}" if p >= 0.001 else f"{p:.1e}")


def _signed(v: float | None, digits: int = 2) -> str:
    return "–" if v is None else f"{v + 0.0:+.{digits}f}"


def _ci(low: float | None, high: float | None) -> str:
    return "–" if low is None or high is None else f"[{low:+.2f}, {high:+.2f}]"


def task_label(task: str) -> str:
    """A synthetic family task by its label map (the table titles give the full form); others as given."""
    from ...ablation.data import parse_data

    ref = parse_data(task)
    return ref.labels if ref.synthetic and ref.options else task


def _run_score(r: Any) -> str:
    """A finished run's score: top-1, or for a dense task mean IoU and pixel accuracy."""
    if r.head and r.miou is not None:
        return f"mIoU {100 * r.miou:.2f}% (pixel accuracy {100 * r.top1:.2f}%)"
    return f"top-1 {100 * r.top1:.2f}%"


def _metric(result: AblationResult) -> str:
    """What the sweep's runs are compared by: mIoU for the dense tasks, top-1 otherwise."""
    return "mIoU" if any(r.head for r in result.records) else "top-1"


def summary_table(result: AblationResult, spec: AblationSpec, task: str | None = None) -> Table:
    """One task's summary as a rich table: cost, top-1 (mIoU) mean ± std over seeds, Δ and Welch p against the
    baseline."""
    from rich.table import Table

    metric = _metric(result)
    task = task if task is not None else result.data_name
    classes = dict(result.tasks).get(task, result.num_classes)
    seeds = ",".join(str(s) for s in spec.seeds)
    title = (
        f"{spec.backbone} {width_label(spec.width)} on {task} ({classes} classes), {spec.input_size} px, "
        f"{spec.epochs} epochs, seeds {seeds}"
    )
    table = Table(title=title, title_justify="left")
    for col, just in (
        ("module", "left"),
        ("params (M)", "right"),
        ("MACs (M)", "right"),
        ("runs", "right"),
        ("conv.", "right"),
        (f"{metric} % (mean ± std)", "right"),
        (f"{metric} % per seed", "left"),
        (f"Δ {metric} (pp)", "right"),
        ("p (Welch)", "right"),
    ):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    rows = [s for s in result.summary if s.task == task or (not s.task and len(result.tasks) <= 1)]
    has_top5 = any(s.top5_mean is not None for s in rows)
    if has_top5:
        table.add_column("top-5 %", justify="right")
    for s in rows:
        mean = _pct(s.top1_mean) + ("" if s.top1_std is None else f" ± {100 * s.top1_std:.2f}")
        delta = "–" if s.d_top1 is None else f"{100 * s.d_top1:+.2f}"
        row = [
            s.module,
            millions(s.params),
            millions(s.macs, 2),
            f"{s.ok}/{s.runs}",
            f"{s.converged}/{s.ok}",
            mean,
            " ".join(_pct(v, 1) for v in s.top1) or "–",
            delta,
            _p(s.p_value),
        ]
        if has_top5:
            row.append(_pct(s.top5_mean))
        table.add_row(*row)
    return table


def _mde(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}"


def contrasts_table(result: AblationResult, primary: bool) -> Table | None:
    """The primary (or the exploratory) contrasts a − b: Δ with the paired and the Welch 95 % intervals, the p and
    MDE of the analysis used, Holm p within the family, and the seeds' correlation."""
    from rich.table import Table

    if result.analysis is None:
        return None
    cs = [c for c in result.analysis.contrasts if c.primary is primary]
    if not cs:
        return None
    name = "Primary contrasts (pre-registered)" if primary else "Exploratory contrasts"
    table = Table(title=f"{name} a − b, {_metric(result)} in percentage points", title_justify="left")
    cols = ["task", "a − b", "n", "Δ (pp)", "paired 95 % CI", "Welch 95 % CI", "test", "p", "p Holm", "MDE (pp)", "ρ"]
    boot = any(c.boot_low_pp is not None for c in cs)
    if boot:
        cols.insert(6, "bootstrap CI")
    for col in cols:
        table.add_column(col, justify="left" if col in ("task", "a − b", "test") else "right")
    for c in cs:
        n = f"{c.n_pairs}" if c.n_a == c.n_b == c.n_pairs else f"{c.n_a}/{c.n_b} ({c.n_pairs} paired)"
        row = [
            task_label(c.task),
            f"{c.a} − {c.b}",
            n,
            _signed(c.delta_pp),
            _ci(c.paired_ci_low_pp, c.paired_ci_high_pp),
            _ci(c.welch_ci_low_pp, c.welch_ci_high_pp),
            c.analysis,
            _p(c.p),
            _p(c.p_holm),
            _mde(c.mde_pp),
            "–" if c.rho is None else f"{c.rho:+.2f}",
        ]
        if boot:
            row.insert(6, _ci(c.boot_low_pp, c.boot_high_pp))
        table.add_row(*row)
    return table


def examples_table(result: AblationResult) -> Table | None:
    """The per-example tests of every contrast whose runs saved their predictions."""
    from rich.table import Table

    cs = [c for c in (result.analysis.contrasts if result.analysis else ()) if c.examples is not None]
    if not cs:
        return None
    table = Table(title="Per-example tests (test-set noise for these trained models)", title_justify="left")
    for col in ("task", "a − b", "seeds", "examples", "p (t over examples)", "McNemar b/c", "p McNemar"):
        table.add_column(col, justify="left" if col in ("task", "a − b") else "right")
    for c in cs:
        table.add_row(
            task_label(c.task),
            f"{c.a} − {c.b}",
            str(c.example_seeds),
            str(c.examples),
            _p(c.p_examples),
            f"{c.mcnemar_b}/{c.mcnemar_c}",
            _p(c.p_mcnemar),
        )
    return table


def did_table(result: AblationResult) -> Table | None:
    """Crossovers (a − b | row) − (a − b | column) and differences in differences against the shape-only control."""
    from rich.table import Table

    if result.analysis is None or not result.analysis.did:
        return None
    table = Table(
        title="Crossover and difference in differences (a − b | task) − (a − b | other), pp", title_justify="left"
    )
    for col in ("kind", "task", "other", "a − b", "n", "DiD (pp)", "95 % CI (pp)", "test", "p", "p Holm", "MDE (pp)"):
        table.add_column(col, justify="left" if col in ("kind", "task", "other", "a − b", "test") else "right")
    for d in result.analysis.did:
        table.add_row(
            d.kind,
            task_label(d.task),
            task_label(d.control),
            f"{d.a} − {d.b}",
            str(d.n),
            _signed(d.did_pp),
            _ci(d.ci_low_pp, d.ci_high_pp),
            d.analysis,
            _p(d.p),
            _p(d.p_holm),
            _mde(d.mde_pp),
        )
    return table


def show_ablation(result: AblationResult, spec: AblationSpec, console: Console | None = None) -> None:
    """Print every task's summary table, the primary then exploratory contrasts, the per-example tests, the
    crossovers and differences in differences, notes and warnings."""
    console = console or stdout
    tasks = [t for t, _ in result.tasks] or [result.data_name]
    for task in tasks:
        console.print(summary_table(result, spec, task))
    console.print(
        f"{_scores_words(result)} on the {_split_words(result)}. Δ: mean {_metric(result)} minus the baseline's, in "
        "percentage points. p: "
        "Welch's two-sided t-test against the baseline over seeds (– with fewer than 2 successful seeds on either "
        "side). conv.: runs that converged.",
        style="dim",
        soft_wrap=True,
    )
    tables = (contrasts_table(result, True), contrasts_table(result, False), examples_table(result), did_table(result))
    for table in tables:
        if table is not None:
            console.print(table)
    if result.analysis is not None and result.analysis.contrasts:
        console.print(
            "paired: t interval over the within-seed differences (df n − 1); used when every run shares its seed's "
            "initialisation and data order, else Welch (independent means). p, MDE: of the test used; MDE is the "
            "true difference that test at 5 % finds with 80 % power, from the observed spread and n. p Holm: within "
            "the family (primary contrasts alone; exploratory alone; crossovers; control differences). ρ: "
            f"correlation of the two modules' {_metric(result)} over the paired seeds. Runs that did not converge "
            "are included "
            f"everywhere. {escape(result.analysis.convergence)}.",
            style="dim",
            soft_wrap=True,
        )
    for line in result.analysis.warnings if result.analysis is not None else ():
        console.print(f"warning: {escape(line)}", soft_wrap=True, markup=True)


def _scores_words(result: AblationResult) -> str:
    if _metric(result) == "mIoU":
        return "Mean IoU (one confusion matrix over every test pixel, background included)"
    return "Accuracies"


def _split_words(result: AblationResult) -> str:
    splits = {r.eval_split for r in result.records} or {"test"}
    if splits == {"val"}:
        return "validation split (held out of the training split; the test split was not used)"
    if splits == {"test"}:
        return "test split"
    return "test split for rows marked test and the validation split for rows marked val"


def ablation_json(result: AblationResult, spec: AblationSpec) -> dict[str, Any]:
    """The summary as data: raw numbers, fractions for the module rows, percentage points for contrasts."""
    import dataclasses

    analysis = result.analysis
    return {
        "backbone": spec.backbone,
        "width": spec.width,
        "input_size": spec.input_size,
        "epochs": spec.epochs,
        "seeds": list(spec.seeds),
        "tasks": [{"data": t, "num_classes": c} for t, c in result.tasks],
        "head": spec.head or "",
        "output_stride": spec.stride,
        "metric": "miou" if _metric(result) == "mIoU" else "top1",
        "modules": [dataclasses.asdict(s) for s in result.summary],
        "eval_split": sorted({r.eval_split for r in result.records}),
        "convergence_rule": analysis.convergence if analysis else "",
        "contrasts": [dataclasses.asdict(c) for c in analysis.contrasts] if analysis else [],
        "did": [dataclasses.asdict(d) for d in analysis.did] if analysis else [],
        "warnings": list(analysis.warnings) if analysis else [],
    }


def write_ablation_json(result: AblationResult, spec: AblationSpec) -> None:
    import json

    sys.stdout.write(json.dumps(ablation_json(result, spec), indent=2, allow_nan=False) + "\n")
    sys.stdout.flush()
