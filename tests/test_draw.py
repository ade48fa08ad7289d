"""`cnndsl draw`: the dot source read structurally, and real output from `dot`.

The structure tests parse the dot source with small regexes (clusters,
node labels, edges and their attributes) rather than comparing it to a
golden copy, so they say *what* a reader of the diagram relies on.
"""

import html
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import cnndsl
from cnndsl.backends import graphviz_dot as gv
from cnndsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` not installed")


def dot_of(spec, **options):
    return gv.to_dot(cnndsl.load(SPECS / spec).graph, gv.DrawOptions(**options))


# ------------------------------------------------------------ a tiny parser of dot source

_NODE = re.compile(r'^\s*("(?:[^"\\]|\\.)*"|[\w.]+) \[(.*)\]$')
_EDGE = re.compile(r'^\s*("(?:[^"\\]|\\.)*"|[\w.]+) -> ("(?:[^"\\]|\\.)*"|[\w.]+)(?: \[(.*)\])?$')
_ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|<|[^ ]+)')


def _unquote(s):
    return s[1:-1] if s.startswith('"') else s


def _attrs(text):
    """`a=1 b="x y" label=<html <b>nested</b>>` -> dict; HTML values keep their brackets."""
    out, text, pos = {}, text or "", 0
    while True:
        m = _ATTR.search(text, pos)
        if not m:
            return out
        if m.group(2) != "<":
            out[m.group(1)] = _unquote(m.group(2))
            pos = m.end()
            continue
        depth, i = 0, m.start(2)
        while True:  # find the `>` that closes the HTML label
            depth += {"<": 1, ">": -1}.get(text[i], 0)
            i += 1
            if depth == 0:
                break
        out[m.group(1)] = text[m.start(2):i]
        pos = i


class Dot:
    """Nodes, edges and clusters (with their nesting) of a dot source."""

    def __init__(self, source):
        self.nodes, self.edges, self.clusters, self.parent = {}, {}, {}, {}
        stack = [None]
        for line in source.splitlines():
            m = re.match(r'^\s*subgraph ("?cluster_[^"]*"?) \{$', line)
            if m:
                name = _unquote(m.group(1))[len("cluster_"):]
                self.clusters[name] = {}
                stack.append(name)
                continue
            if re.match(r"^\s*(subgraph )?\{$", line):
                stack.append(stack[-1])  # an anonymous subgraph (rank=same)
                continue
            if line.strip() == "}":
                stack.pop()
                continue
            m = _EDGE.match(line)
            if m:
                self.edges[(_unquote(m.group(1)), _unquote(m.group(2)))] = _attrs(m.group(3))
                continue
            m = _NODE.match(line)
            if m and m.group(1) not in ("node", "edge", "graph"):
                node = _unquote(m.group(1))
                attrs = _attrs(m.group(2))
                if attrs:  # `a` alone inside a rank=same group only names it
                    self.nodes[node] = attrs
                    self.parent[node] = stack[-1]
                continue
            if stack[-1] is not None and "=" in line and stack[-1] in self.clusters:
                self.clusters[stack[-1]].update(_attrs(line.strip()))

    def text(self, node):
        """A node's label without markup."""
        return label_text(self.nodes[node]["label"])

    def cluster_text(self, name):
        """A cluster's label without markup."""
        return label_text(self.clusters[name]["label"])


def label_text(label):
    """What a label shows: an HTML-like label without its tags, entities resolved."""
    label = label[1:-1] if label.startswith("<") else label
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", label)).split())


# ------------------------------------------------------------------------ structure


def test_googlenet_clusters_labels_and_edge_shapes():
    d = Dot(dot_of("googlenet.cnn"))
    for stage in ("b1", "b2", "b3", "b4", "b5"):
        assert d.cluster_text(stage) == stage
    assert d.cluster_text("b3.inception_1") == "inception(64, (96, 128), (16, 32), 32)"
    assert d.parent["b3.inception_1.path_2.conv_2"] == "b3.inception_1.path_2"
    assert "conv 7x7/2, 64" in d.text("b1.conv_1")
    assert "relu" in d.text("b1.conv_1")  # folded into the conv's box
    assert "b1.relu_1" not in d.nodes
    assert d.edges[("b1.maxpool_1", "b2.conv_1")]["label"] == "64x56x56"
    assert d.edges[("b3.inception_1.path_3.conv_2", "b3.inception_1.concat_1")]["label"] \
        == "32x28x28"
    assert d.edges[("b5.flatten_1", "linear_1")]["label"] == "1024"
    assert d.edges[("linear_1", gv.OUTPUT)]["label"] == "1000"


def test_inception_paths_start_on_one_rank():
    source = dot_of("googlenet.cnn")
    groups = re.findall(r"\{\s*rank=same\s*((?:\"[^\"]+\"\s*)+)\}", source)
    heads = [re.findall(r'"([^"]+)"', g) for g in groups]
    assert ["b3.inception_1.path_1.conv_1", "b3.inception_1.path_2.conv_1",
            "b3.inception_1.path_3.conv_1", "b3.inception_1.path_4.maxpool_1"] in heads
    assert len(heads) == 9  # one per Inception block


def test_residual_shortcuts_are_dashed_and_the_main_path_is_not():
    d = Dot(dot_of("resnet18.cnn"))
    identity = d.edges[("stem.maxpool_1", "layer1.basic_1.add_1")]
    assert identity["style"] == "dashed"
    into_projection = d.edges[("layer1.basic_2.add_1", "layer2.basic_1.shortcut.conv_1")]
    out_of_projection = d.edges[("layer2.basic_1.shortcut.conv_1", "layer2.basic_1.add_1")]
    assert into_projection["style"] == out_of_projection["style"] == "dashed"
    main_path = d.edges[("layer2.basic_1.main.conv_2", "layer2.basic_1.add_1")]
    assert "style" not in main_path
    assert d.cluster_text("layer2.basic_1.shortcut") == "shortcut"
    dashed = [e for e, a in d.edges.items() if a.get("style") == "dashed"]
    assert len(dashed) == 5 + 3 * 2  # 5 identity shortcuts, 3 projections (in and out)


def test_concat_paths_are_never_shortcuts():
    d = Dot(dot_of("googlenet.cnn"))
    assert not [e for e, a in d.edges.items() if a.get("style") == "dashed"]


def test_only_cheap_element_wise_layers_fold():
    d = Dot(dot_of("nin.cnn"))
    assert "nin_block_1.conv_2" in d.nodes  # a 1x1 conv is pointwise but has MACs
    assert "relu" in d.text("nin_block_1.conv_2")
    assert "dropout 0.5" in d.text("maxpool_3")
    resnet = Dot(dot_of("resnet18.cnn"))
    assert "batchnorm · relu" in resnet.text("layer1.basic_1.main.conv_1")
    assert "relu" in resnet.text("layer1.basic_1.add_1")  # after the merge, not into a path


def test_unfolded_diagram_has_one_box_per_layer():
    net = cnndsl.load(SPECS / "lenet.cnn")
    d = Dot(gv.to_dot(net.graph, gv.DrawOptions(fold=False)))
    assert set(d.nodes) == set(net.graph.nodes) | {gv.OUTPUT}
    assert d.edges[("features.conv_1", "features.sigmoid_1")]["label"] == "6x28x28"


def test_depth_1_resnet50_fits_one_screen():
    source = dot_of("resnet50.cnn", depth=1)
    d = Dot(source)
    assert len(d.nodes) <= 20
    assert set(d.clusters) == {"stem", "layer1", "layer2", "layer3", "layer4", "head"}
    labels = {n: d.text(n) for n in d.nodes}
    assert "bottleneck(128) × 3" in labels["layer2.bottleneck_2"]
    assert "512x28x28 → 512x28x28" in labels["layer2.bottleneck_2"]
    assert "bottleneck(256) × 5" in labels["layer3.bottleneck_2"]
    assert "256x56x56 → 512x28x28" in labels["layer2.bottleneck_1"]
    assert "params" in labels["layer2.bottleneck_1"] and "MACs" in labels["layer2.bottleneck_1"]
    assert d.nodes["layer2.bottleneck_2"]["peripheries"] == "2"
    assert not any(n.count(".") > 1 for n in d.nodes)  # nothing inside a block is drawn


def test_repeats_merge_only_identical_blocks():
    d = Dot(dot_of("vgg16.cnn", depth=1))
    titles = [d.text(n) for n in d.nodes if n.startswith("features.")]
    assert len(titles) == 5 and not any("×" in t for t in titles)  # five different vgg_blocks


def test_depth_0_collapses_stages():
    d = Dot(dot_of("alexnet.cnn", depth=0))
    assert not d.clusters
    assert "features" in d.text("features") and "3x224x224 → 256x5x5" in d.text("features")


def test_show_params_macs_and_receptive_field():
    d = Dot(dot_of("lenet.cnn", show=("rf", "params", "macs")))
    first, second = d.text("features.conv_1"), d.text("features.conv_2")
    assert "rf 5" in first and "156 params" in first  # 6*1*5*5 + 6
    assert "rf 14" in second  # 6 + (5-1)*2: Araujo et al.'s recursion
    assert "2.42K params" in second and "240K MACs" in second  # 16*6*25+16; 16*10*10*6*25
    assert "rf global" in d.text("classifier.linear_1")
    plain = Dot(dot_of("lenet.cnn"))
    assert "params" not in plain.text("features.conv_1")


def test_rankdir_and_title():
    source = dot_of("lenet.cnn", rankdir="LR")
    assert "rankdir=LR" in source
    assert 'label=<lenet  ·  1x28x28 → 10  ·  61.7K params, 417K MACs>' in source


def test_dot_source_is_deterministic():
    a = dot_of("zoo/googlenet.cnn")
    b = gv.to_dot(cnndsl.load(SPECS / "zoo" / "googlenet.cnn").graph)
    assert a == b
    script = ("import cnndsl; from cnndsl.backends.graphviz_dot import to_dot; "
              "print(to_dot(cnndsl.load('specs/resnet50.cnn').graph), end='')")
    runs = {subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                           text=True, check=True, env={"PYTHONHASHSEED": seed}).stdout
            for seed in ("1", "2")}
    assert runs == {dot_of("resnet50.cnn")}


def test_block_named_with_as_is_labelled_once():
    d = Dot(dot_of("zoo/googlenet.cnn"))
    assert d.cluster_text("inception3a") == "inception3a: inception(64, (96, 128), (16, 32), 32)"
    # a block that draws as one box carries its name in the box instead of a cluster
    assert "conv1" not in d.clusters
    assert d.text("conv1.conv_1").split()[:2] == ["conv1:", "basic_conv(64,"]


# -------------------------------------------------------------------------- partial


BAD_INCEPTION = (SPECS / "googlenet.cnn").read_text().replace(
    "conv(c3[1], k=5, p=2)", "conv(c3[1], k=5)")


def test_a_failed_elaboration_carries_the_partial_graph():
    with pytest.raises(cnndsl.CnnError) as info:
        cnndsl.loads(BAD_INCEPTION, "bad.cnn")
    graph = info.value.graph
    assert graph.nodes["b3.inception_1.concat_1"]["shape"] is None
    assert graph.nodes["b3.inception_1.path_3.conv_2"]["shape"] == (32, 24, 24)


def test_partial_diagram_marks_the_failing_node_and_stops_there():
    with pytest.raises(cnndsl.CnnError) as info:
        cnndsl.loads(BAD_INCEPTION, "bad.cnn")
    d = Dot(gv.to_dot(info.value.graph, diagnostics=info.value.diagnostics))
    concat = d.nodes["b3.inception_1.concat_1"]
    assert concat["color"] == gv.ERROR and "error[E0301]" in d.text("b3.inception_1.concat_1")
    blamed = d.edges[("b3.inception_1.path_3.conv_2", "b3.inception_1.concat_1")]
    assert blamed["color"] == gv.ERROR and blamed["label"] == "32x24x24"
    assert not [n for n in d.nodes if n.startswith(("b4", "b5", "linear"))]
    assert gv.OUTPUT not in d.nodes


def test_partial_diagram_marks_a_collapsed_block_that_failed():
    with pytest.raises(cnndsl.CnnError) as info:
        cnndsl.loads(BAD_INCEPTION, "bad.cnn")
    d = Dot(gv.to_dot(info.value.graph, gv.DrawOptions(depth=1), info.value.diagnostics))
    assert d.nodes["b3.inception_1"]["color"] == gv.ERROR
    assert "error[E0301]" in d.text("b3.inception_1") and "192x28x28 → ?" in d.text("b3.inception_1")


def test_partial_diagram_places_an_error_no_layer_stands_for():
    text = "network t\ninput [3, 32, 32]\nstage a { conv(8, k=3) relu }\nconv(16, k=0) relu\n"
    with pytest.raises(cnndsl.CnnError) as info:
        cnndsl.loads(text, "t.cnn")
    d = Dot(gv.to_dot(info.value.graph, diagnostics=info.value.diagnostics))
    box = gv.ERROR_BOX.format(1)
    assert "error[E0206]" in d.text(box) and "t.cnn:4:10" in d.text(box)
    assert ("a.conv_1", box) in d.edges


def test_layers_named_like_the_diagrams_own_nodes_keep_their_own_boxes():
    """Issue 18, item 11: `conv as output` used to share the output box (an `output ->
    output` self-loop); the diagram's own ids start with `@`, which no name can."""
    text = ("network t\ninput [1, 8, 8]\nconv(4, k=3) as output\nconv(2, k=1) as error_1\n"
            "relu as output_1\n")
    d = Dot(gv.to_dot(cnndsl.loads(text, "t.cnn").graph))
    assert d.text("output") == "conv 3x3, 4" and d.text(gv.OUTPUT) == "output"
    assert d.text("error_1") == "conv 1x1, 2 relu"  # `relu as output_1` folded into it
    assert set(d.edges) == {("input", "output"), ("output", "error_1"), ("error_1", gv.OUTPUT)}
    with pytest.raises(cnndsl.CnnError) as info:  # and an error box beside a layer `error_1`
        cnndsl.loads(text + "conv(16, k=0)\n", "t.cnn")
    d = Dot(gv.to_dot(info.value.graph, diagnostics=info.value.diagnostics))
    box = gv.ERROR_BOX.format(1)
    assert "error[E0206]" in d.text(box) and d.text("error_1").startswith("conv 1x1, 2")
    assert ("error_1", box) in d.edges and all(a != b for a, b in d.edges)
    name = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")  # grammar's NAME
    assert not name.fullmatch(gv.OUTPUT) and not name.fullmatch(box)


# ------------------------------------------------------------------------------ CLI


@needs_dot
@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".png", b"\x89PNG\r\n\x1a\n"),
                                           (".pdf", b"%PDF-")])
def test_cli_renders_with_the_real_dot(tmp_path, suffix, magic):
    out = tmp_path / f"googlenet{suffix}"
    assert main(["draw", str(SPECS / "googlenet.cnn"), "-o", str(out)]) == 0
    data = out.read_bytes()
    assert data.startswith(magic)
    if suffix == ".svg":
        text = data.decode()
        assert "<svg" in text and "inception(64, (96, 128), (16, 32), 32)" in text
        assert "conv 7x7/2, 64" in text and "64x56x56" in text


def test_cli_dot_output_needs_no_dot_program(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` on it
    out = tmp_path / "net.dot"
    assert main(["draw", str(SPECS / "lenet.cnn"), "-o", str(out), "--depth", "1",
                 "--rankdir", "LR", "--set", "classes=5"]) == 0
    assert out.read_text() == gv.to_dot(cnndsl.load(SPECS / "lenet.cnn", classes=5).graph,
                                        gv.DrawOptions(depth=1, rankdir="LR"))


def test_cli_without_dot_program_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["draw", str(SPECS / "lenet.cnn"), "-o", str(tmp_path / "n.svg")]) == 2
    assert "apt-get install graphviz" in capsys.readouterr().err
    assert not (tmp_path / "n.svg").exists()


def test_cli_usage_errors(tmp_path, capsys):
    spec = str(SPECS / "lenet.cnn")
    for argv in (["-o", str(tmp_path / "x.jpg")], ["--show", "flops"], ["--depth", "-1"],
                 ["--rankdir", "BT"]):
        with pytest.raises(SystemExit) as info:
            main(["draw", spec, *argv])
        assert info.value.code == 2
    odd = tmp_path / "lenet.dot"  # a spec whose name is also an output format
    odd.write_text((SPECS / "lenet.cnn").read_text())
    with pytest.raises(SystemExit) as info:
        main(["draw", str(odd), "-o", str(odd)])
    assert info.value.code == 2 and odd.read_text() == (SPECS / "lenet.cnn").read_text()


def test_cli_unwritable_output_is_not_a_read_error(tmp_path, capsys):
    out = tmp_path / "missing" / "net.dot"
    assert main(["draw", str(SPECS / "lenet.cnn"), "-o", str(out)]) == 2
    assert f"cannot write {str(out)!r}" in capsys.readouterr().err


@needs_dot
def test_cli_partial(tmp_path, capsys):
    spec = tmp_path / "bad.cnn"
    spec.write_text(BAD_INCEPTION)
    out = tmp_path / "bad.svg"
    assert main(["draw", str(spec), "-o", str(out)]) == 1
    assert not out.exists()
    assert main(["draw", str(spec), "-o", str(out), "--partial"]) == 1
    assert "error[E0301]" in capsys.readouterr().err
    assert "<svg" in out.read_text() and "error[E0301]" in out.read_text()


def test_cli_stdout_is_dot_source(capsys):
    assert main(["draw", str(SPECS / "nin.cnn"), "--show", "params"]) == 0
    assert capsys.readouterr().out == dot_of("nin.cnn", show=("params",))


def test_check_imports_neither_graphviz_nor_torch():
    script = ("import sys; from cnndsl.cli import main; main(['check', 'specs/lenet.cnn']); "
              "print(sorted(m for m in ('graphviz', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip().endswith("[]")


@needs_dot
def test_notebook_display_is_the_svg():
    bundle = cnndsl.load(SPECS / "lenet.cnn")._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith("<?xml") and "<svg" in bundle["image/svg+xml"]
    assert bundle["text/plain"].startswith("<Network lenet")
