"""The deployment runtimes (ONNX Runtime, OpenVINO, ExecuTorch): each exports a tiny model, is checked against
eager and timed, through the same CLI as eager. A runtime whose extra is not installed is skipped, never faked."""

from __future__ import annotations

import csv
import importlib.util
import io
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from clihelp import error_line, run_cli

from attnbench import modules
from attnbench.runtimes import RUNTIMES

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = Path(__file__).parent / "plugins" / "tiny_runtime_net.py"
TINY = (
    "--backbone",
    "tinynet",
    "--input",
    "32",
    "--num-classes",
    "10",
    "--plugins",
    str(PLUGIN),
    "--repeats",
    "5",
    "--warmup",
    "2",
    "--max-time",
    "0",
    "--format",
    "csv",
    "--quiet",
)
PACKAGE = {"onnxruntime": "onnxruntime", "openvino": "openvino", "executorch": "executorch"}
"""The package whose absence skips a runtime's tests (its extra installs it)."""


@pytest.fixture
def tiny() -> Iterator[None]:
    """The test plugin's module forgotten after the test, so that the next `--plugins` loads it again (conftest
    unregisters what it registered)."""
    yield
    for name in [n for n in sys.modules if n.startswith("attnbench_plugin_")]:
        if getattr(sys.modules[name], "__file__", "") == str(PLUGIN.resolve()):
            del sys.modules[name]


def rows(stdout: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(stdout)))


def failure_line(stderr: str) -> str:
    """The one ``Error:`` line of a run with failed rows; the lines before it are ``Warning:`` lines (a tiny model
    timed with few samples has a wide interval)."""
    lines = stderr.splitlines()
    assert "Traceback" not in stderr and lines[-1] == "Set ATTNBENCH_DEBUG=1 for the traceback."
    assert all(line.startswith("Warning: ") for line in lines[:-2]), stderr
    assert lines[-2].startswith("Error: ")
    return lines[-2]


ONNX_RUNTIMES = [r for r in ("onnxruntime", "openvino") if importlib.util.find_spec(PACKAGE[r]) is not None]
"""The ONNX-based runtimes installed here; one run times them together, so they share one export per model."""


def _tinynet(attention: str):  # type: ignore[no-untyped-def]
    from attnbench.plugins import load_plugins

    load_plugins([PLUGIN])
    return modules.create_model("tinynet", attention, num_classes=10).eval()


@pytest.mark.slow  # an ONNX export takes seconds
def test_onnx_runtimes_export_check_and_time_beside_eager(tiny: None) -> None:
    if not ONNX_RUNTIMES:
        pytest.skip("neither the 'onnx' nor the 'openvino' extra is installed")
    builds = ("eager", *ONNX_RUNTIMES)
    code, out, err = run_cli(
        "profile", "--module", "sigmoid_gate,drift,no_export", "--runtime", ",".join(builds), *TINY
    )
    got = {(r["module"], r["build"]): r for r in rows(out)}
    assert set(got) == {(m, b) for m in ("none", "sigmoid_gate", "drift", "no_export") for b in builds}
    for m in ("none", "sigmoid_gate"):
        for b in builds:
            r = got[(m, b)]
            assert r["status"] == "ok", r["error"]
            assert r["runtime"] == b and r["runtime_version"] == RUNTIMES[b].version() and r["quantize"] == "none"
            assert r["graph"] and float(r["latency_ms_median"]) > 0 and int(r["latency_n"]) >= 5
            assert float(r["max_abs_diff"]) <= 1e-4 * float(r["output_abs_max"])
            assert m == "none" or r["d_latency_pct"] != ""  # against the baseline on the same runtime
        assert float(got[(m, "eager")]["max_abs_diff"]) == 0
    for b in ONNX_RUNTIMES:
        # The graph baked the call count the exporter saw; eager's next call differs: a failed row, never timed.
        drift = got[("drift", b)]
        assert drift["status"] == "failed" and "output differs from eager's: max_abs_diff" in drift["error"]
        assert drift["latency_ms_median"] == ""
        # An op the exporter cannot translate: the row names the exporter's reason on one line.
        bad = got[("no_export", b)]
        assert bad["status"] == "failed" and "\n" not in bad["error"]
        assert bad["error"].startswith("ExportError: ONNX export failed: DispatchError: No ONNX function found for")
        assert "aten.kthvalue" in bad["error"]
    assert got[("drift", "eager")]["status"] == got[("no_export", "eager")]["status"] == "ok"
    assert code == 1 and f"{2 * len(ONNX_RUNTIMES)} of {4 * len(builds)} rows failed" in failure_line(err)


@pytest.mark.slow
def test_onnx_runtimes_int8_report_agreement_and_what_stays_float(tiny: None) -> None:
    pytest.importorskip("onnxruntime")  # the quantizer; OpenVINO runs its QDQ file
    code, out, err = run_cli(
        "profile", "--module", "sigmoid_gate,cbam", "--runtime", ",".join(ONNX_RUNTIMES), "--quantize", "int8", *TINY
    )
    assert code == 0, err  # CBAM too: its ReduceMax/ReduceMean + Concat once stopped the quantizer's shape pass
    got = {(r["module"], r["build"]): r for r in rows(out)}
    assert len(got) == 3 * len(ONNX_RUNTIMES)
    for (module, _), r in got.items():
        assert r["status"] == "ok" and r["quantize"] == "int8" and "QDQ int8" in r["graph"]
        assert 0 <= float(r["top1_agreement"]) <= 1 and float(r["max_abs_diff"]) >= 0
        assert float(r["latency_ms_median"]) > 0
        if module == "none":  # no attention in the baseline
            assert r["attn_ops_int8"] == r["attn_ops_float"] == "0"
        else:
            assert int(r["attn_ops_int8"]) + int(r["attn_ops_float"]) > 0


COMPARATORS = "eca,simam,gc,triplet"
"""The comparator modules whose ops (1-D conv, LayerNorm, softmax, matmul, channel max, pow) are new to the exporters."""


@pytest.mark.slow
def test_comparator_modules_export_and_equal_eager_on_the_onnx_runtimes(tiny: None) -> None:
    """float32: ECA, SimAM, GC and triplet attention export, build and run on ONNX Runtime and OpenVINO, and each
    row's output equals eager's (ExecuTorch: the test after this one)."""
    if not ONNX_RUNTIMES:
        pytest.skip("neither the 'onnx' nor the 'openvino' extra is installed")
    builds = ("eager", *ONNX_RUNTIMES)
    code, out, err = run_cli("profile", "--module", COMPARATORS, "--runtime", ",".join(builds), *TINY)
    assert code == 0, err
    got = {(r["module"], r["build"]): r for r in rows(out)}
    assert set(got) == {(m, b) for m in ("none", *COMPARATORS.split(",")) for b in builds}
    for (module, build), r in got.items():
        assert r["status"] == "ok", f"{module} on {build}: {r['error']}"
        assert float(r["max_abs_diff"]) <= 1e-4 * float(r["output_abs_max"]), (module, build)
        if module != "none" and build != "eager":
            assert int(r["attn_ops_float"]) > 0  # the attention's nodes were found in the graph


# One test, so that one process pays ExecuTorch's one-time setup (about 8 s: its op table, its bilinear patterns).
@pytest.mark.slow
def test_executorch_lowers_the_comparators_and_loads_int8_coordinate_attention(tmp_path: Path, tiny: None) -> None:
    """float32 through the command: ECA, SimAM, GC and triplet attention (one after another in the test plugin's
    ``comparators``: one lowering meets all their ops) lower to XNNPACK, run, equal eager and are timed.

    int8 through the API: XNNPACK refused the squeeze an int8 graph of CA's pooled strips needed ("Failed to create
    squeeze node", xnn_status_invalid_parameter); CA's strips now keep their dims and the program loads and agrees
    with eager."""
    pytest.importorskip("executorch")
    import torch

    from attnbench.cost.runner import _check
    from attnbench.cost.spec import ProfileSpec
    from attnbench.runtimes import Request, prepare

    code, out, err = run_cli("profile", "--module", "comparators", "--runtime", "executorch", *TINY)
    assert code == 0, err
    got = {r["module"]: r for r in rows(out)}
    assert set(got) == {"none", "comparators"}
    for module, r in got.items():
        assert r["status"] == "ok" and r["build"] == "executorch", f"{module}: {r['error']}"
        assert float(r["max_abs_diff"]) <= 1e-4 * float(r["output_abs_max"]), module
        assert "XNNPACK delegate" in r["graph"] and float(r["latency_ms_median"]) > 0

    model, x = _tinynet("ca"), torch.randn(1, 3, 32, 32)
    calib = tuple(torch.randn(1, 3, 32, 32) for _ in range(8))
    prepared = prepare(
        model, x, "executorch", Request(threads=1, quantize="int8", calibration=calib, key="ca", workdir=tmp_path)
    )
    spec = ProfileSpec(modules=(), backbone="mbv2", input_size=32, quantize="int8")
    check = _check(spec, model, prepared, x, "executorch", list(calib))
    assert check.top1_agreement is not None and check.top1_agreement >= 0.5
    assert prepared.run(x).shape == (1, 10)


@pytest.mark.slow
def test_comparator_modules_quantize_to_int8_on_the_onnx_runtimes(tiny: None) -> None:
    """int8 (QDQ) on ONNX Runtime and OpenVINO, the four in one network (the test plugin's ``comparators``: one
    export and quantization meets all their ops).

    Width 2: at width 1 the tiny net's GC bottleneck is one channel wide, so its LayerNorm outputs its bias alone and
    the network's logits barely depend on the image (a degenerate case for agreement, not for the runtime)."""
    pytest.importorskip("onnxruntime")  # the quantizer; OpenVINO runs its QDQ file
    args = ("profile", "--module", "comparators", "--runtime", ",".join(ONNX_RUNTIMES), "--quantize", "int8")
    code, out, err = run_cli(*args, *TINY, "--width", "2")
    assert code == 0, err
    got = {(r["module"], r["build"]): r for r in rows(out)}
    assert len(got) == 2 * len(ONNX_RUNTIMES)
    for (module, build), r in got.items():
        assert r["status"] == "ok" and r["quantize"] == "int8" and "QDQ int8" in r["graph"], (module, build)
        assert 0.5 <= float(r["top1_agreement"]) <= 1, (module, build, r["top1_agreement"])
        if module != "none":
            assert int(r["attn_ops_int8"]) + int(r["attn_ops_float"]) > 0


@pytest.mark.long
def test_comparator_modules_quantize_to_int8_on_executorch(tiny: None) -> None:
    pytest.importorskip("executorch")
    args = ("profile", "--module", COMPARATORS, "--runtime", "executorch", "--quantize", "int8")
    code, out, err = run_cli(*args, *TINY, "--width", "2")
    assert code == 0, err
    got = rows(out)
    assert len(got) == 5 and all(r["status"] == "ok" and r["quantize"] == "int8" for r in got), got
    assert all(0.5 <= float(r["top1_agreement"]) <= 1 for r in got)


# Through the API; the command's ExecuTorch path (the same calls) runs in the test command on the comparators.
@pytest.mark.long
@pytest.mark.parametrize("quantize", ["none", "int8"])
def test_executorch_lowers_checks_and_times_a_tiny_model(quantize: str, tmp_path: Path, tiny: None) -> None:
    pytest.importorskip("executorch")
    import torch

    from attnbench.cost.runner import _check
    from attnbench.cost.spec import ProfileSpec
    from attnbench.cost.timing import time_latency
    from attnbench.runtimes import Request, prepare

    model, x = _tinynet("sigmoid_gate"), torch.randn(1, 3, 32, 32)
    calib = tuple(torch.randn(1, 3, 32, 32) for _ in range(4))
    prepared = prepare(
        model, x, "executorch", Request(threads=1, quantize=quantize, calibration=calib, key="t", workdir=tmp_path)
    )
    assert "XNNPACK delegate" in prepared.graph
    spec = ProfileSpec(modules=(), backbone="mbv2", input_size=32, quantize=quantize)
    check = _check(spec, model, prepared, x, "executorch", list(calib) if quantize == "int8" else None)
    if quantize == "none":
        assert check.max_abs_diff <= 1e-4 * check.output_abs_max
    else:
        assert 0 <= check.top1_agreement <= 1
    lat = time_latency(prepared.call, threads=1, warmup=2, repeats=5)
    assert lat.summary.median > 0 and lat.summary.n == 5


@pytest.mark.slow  # two ONNX exports
def test_batchnorm_folded_before_the_onnx_export_leaves_the_same_graph(
    tmp_path: Path, tiny: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("onnxscript")
    from collections import Counter

    import onnx
    import torch

    from attnbench.runtimes import Request, onnx_export

    model, x = _tinynet("ca"), torch.randn(1, 3, 32, 32)
    attention = tuple(n for n, _ in modules.find_attention(model))
    exported = {}
    for key in ("folded", "traced"):
        if key == "traced":
            monkeypatch.setattr(onnx_export, "fold_batchnorm", lambda m: m)
        request = Request(key=key, attention=attention, workdir=tmp_path)
        exported[key] = onnx_export.export(model, x, request)
    folded, traced = exported["folded"], exported["traced"]
    ops = {k: Counter(n.op_type for n in onnx.load(str(e.path)).graph.node) for k, e in exported.items()}
    assert ops["folded"] == ops["traced"] and "BatchNormalization" not in ops["folded"]
    assert folded.ops == traced.ops and folded.ops.float > 0
    assert len(folded.attention_nodes) == len(traced.attention_nodes) > 0


@pytest.mark.slow  # an ONNX export
def test_onnxruntime_session_takes_the_thread_count(tmp_path: Path, tiny: None) -> None:
    pytest.importorskip("onnxruntime")
    import torch

    from attnbench.runtimes import Request, prepare

    model = _tinynet("sigmoid_gate")
    x = torch.randn(1, 3, 32, 32)
    prepared = prepare(model, x, "onnxruntime", Request(threads=1, key="t", workdir=tmp_path))
    session = RUNTIMES["onnxruntime"].session(str(next(tmp_path.glob("*.onnx"))), 1)
    assert session.get_session_options().intra_op_num_threads == 1
    assert session.get_session_options().inter_op_num_threads == 1
    with torch.inference_mode():
        assert (prepared.run(x) - model(x)).abs().max() <= 1e-4 * model(x).abs().max()


def test_unknown_runtime_lists_the_runtimes_and_the_closest_match() -> None:
    code, _, err = run_cli("profile", "--module", "se", "--runtime", "eager,onnxruntim", "--no-latency")
    line = error_line(err)
    assert code == 2
    assert "--runtime 'onnxruntim' is not a runtime; choose from: eager, compile, onnxruntime" in line
    assert "Did you mean 'onnxruntime'?" in line


def test_int8_on_eager_is_refused_naming_the_runtimes_that_quantize() -> None:
    code, _, err = run_cli("profile", "--module", "se", "--runtime", "eager", "--quantize", "int8")
    line = error_line(err)
    assert code == 2 and "--quantize int8 is done by onnxruntime, openvino, executorch" in line
    assert "--runtime eager does not quantize" in line


def test_a_runtime_that_is_not_installed_names_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # The package lookup reports openvino absent: the refusal must come before anything is measured.
    monkeypatch.setattr(type(RUNTIMES["openvino"]), "missing", lambda self, quantize="none": ["openvino"])
    code, _, err = run_cli("sweep", "--modules", "se", "--runtime", "openvino")
    line = error_line(err)
    assert code == 2
    assert line == (
        "Error: --runtime openvino needs openvino, which is not installed; install the 'openvino' extra: "
        "pip install -e '.[openvino]' (or pip install 'attnbench[openvino]')."
    )


def test_list_runtimes_shows_each_runtime_and_whether_it_is_installed() -> None:
    code, out, _ = run_cli("list", "--runtimes")
    assert code == 0
    for name, rt in RUNTIMES.items():
        assert name in out
        if not rt.missing():
            assert rt.version() in out


@pytest.mark.parametrize("missing", [("runtime", "mode", "allocator"), ("allocator",)], ids=["runtime", "allocator"])
def test_csv_written_before_some_columns_is_upgraded_and_resumed(tmp_path: Path, missing: tuple[str, ...]) -> None:
    from attnbench.cost import records, sweep
    from attnbench.cost.records import COLUMNS, RUNTIME_COLUMNS
    from attnbench.cost.spec import ProfileSpec

    gone = set(missing) | (set(RUNTIME_COLUMNS) if "runtime" in missing else set())
    older = [c for c in COLUMNS if c not in gone]
    old = tmp_path / "old.csv"
    row = {c: "" for c in older}
    row.update(
        backbone="mbv2",
        module="none",
        width="1.0",
        input_size="224",
        batch="1",
        device="cpu",
        dtype="float32",
        threads="1",
        build="eager",
        status="ok",
        torch_version="2.13.0",
        latency_ms_median="10.0",
        latency_n="30",
        params="3504872",
    )
    written = dict(runtime="eager", runtime_version="2.13.0", quantize="none", mode="inference")
    row.update({k: v for k, v in written.items() if k in row})
    with old.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=older, lineterminator="\n")
        w.writeheader()
        w.writerow(row)
    with pytest.warns(UserWarning, match="had the columns of an older attnbench"):
        assert records.upgrade(old)
    with old.open(newline="") as f:
        got = list(csv.DictReader(f))
    assert list(got[0]) == list(COLUMNS)
    assert got[0]["runtime"] == "eager" and got[0]["quantize"] == "none" and got[0]["runtime_version"] == "2.13.0"
    assert got[0]["mode"] == "inference"
    assert got[0]["params"] == "3504872" and got[0]["allocator"] == ""
    done = sweep.existing(old)
    cold = ProfileSpec(modules=(), warm_calls=0)  # a row without warm_calls was timed cold
    assert sweep.is_done(done, cold, "none", "eager")
    assert not sweep.is_done(done, ProfileSpec(modules=()), "none", "eager")  # warm samples: measured again
    assert not sweep.is_done(done, replace(cold, quantize="int8"), "none", "eager")
    assert not records.upgrade(old)  # already current


def test_baseline_written_before_the_runtime_columns_loads_as_eager() -> None:
    from attnbench.cost.baseline import read_baseline

    rows_ = read_baseline(ROOT / "results" / "baselines" / "cost.csv")
    assert rows_ and all(r.config["build"] == "eager" and r.config["quantize"] == "none" for r in rows_)


@pytest.mark.slow
def test_device_check_without_cuda_says_so_and_exits_0() -> None:
    proc = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "device_check.sh")],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
            "CUDA_VISIBLE_DEVICES": "",
            "PYTHON": sys.executable,
        },
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "device_check: no CUDA device (torch.cuda.is_available() is False); nothing checked."
    ]


@pytest.mark.slow
def test_baseline_write_and_check_keep_each_runtime_apart(tmp_path: Path, tiny: None) -> None:
    pytest.importorskip("onnxruntime")
    base = tmp_path / "b.csv"
    args = ("--plugins", str(PLUGIN), "--repeats", "6", "--warmup", "2", "--max-time", "0", "--quiet")
    code, _, err = run_cli(
        "baseline",
        "write",
        str(base),
        "--modules",
        "sigmoid_gate",
        "--backbones",
        "tinynet",
        "--inputs",
        "32",
        "--runtime",
        "eager,onnxruntime",
        *args,
    )
    assert code == 0, err
    with base.open(newline="") as f:
        got = [(r["module"], r["build"], r["quantize"], r["runtime_version"]) for r in csv.DictReader(f)]
    assert sorted(got) == sorted(
        (m, rt, "none", RUNTIMES[rt].version()) for m in ("none", "sigmoid_gate") for rt in ("eager", "onnxruntime")
    )
    code, out, err = run_cli("check", str(base), "--runtime", "onnxruntime", "--only", "params,macs", *args)
    assert code == 0, err
    assert "all checks hold (4 ok)" in out  # two rows of onnxruntime, two exact metrics each
