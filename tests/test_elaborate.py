"""The graph the elaborator builds at once (elaborate.add_layers) is the graph
add_node and add_edge would build, one layer at a time."""

from pathlib import Path

import networkx as nx
import pytest

import cnndsl
from cnndsl.diagnostics import CnnError

SPECS = sorted(Path(__file__).parent.parent.glob("specs/**/*.cnn"))


def one_by_one(graph: nx.DiGraph) -> nx.DiGraph:
    """``graph`` rebuilt with add_node and add_edge, in spec order."""
    rebuilt = nx.DiGraph(**graph.graph)
    for node, data in graph.nodes(data=True):
        rebuilt.add_node(node, **data)
        for i in data["inputs"]:
            if i is not None:
                rebuilt.add_edge(i, node)
    return rebuilt


def assert_same(graph: nx.DiGraph, rebuilt: nx.DiGraph) -> None:
    assert nx.utils.graphs_equal(graph, rebuilt)
    # in the same orders too: passes and backends walk them
    assert list(graph.nodes) == list(rebuilt.nodes)
    assert [list(graph.succ[v]) for v in graph] == [list(rebuilt.succ[v]) for v in rebuilt]
    assert [list(graph.pred[v]) for v in graph] == [list(rebuilt.pred[v]) for v in rebuilt]
    for u, v in graph.edges:
        assert graph.succ[u][v] is graph.pred[v][u]  # one edge, one data dict


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_the_graph_is_the_one_add_node_and_add_edge_build(spec):
    graph = cnndsl.load(spec).graph
    assert_same(graph, one_by_one(graph))
    graph.add_edge("input", graph.graph["output"])  # and it stays an ordinary DiGraph
    assert graph.graph["output"] in graph.succ["input"]


def test_a_failed_spec_keeps_its_partial_graph_with_its_edges():
    with pytest.raises(CnnError) as info:
        cnndsl.loads("network t\ninput [3, 8, 8]\nconv(4, k=3) -> x\nconv(4, k=9)\n"
                     "add { path { from x } path { relu } }")
    graph = info.value.graph
    assert list(graph.nodes) == ["input", "conv_1", "conv_2", "path_2.relu_1", "add_1"]
    assert graph.nodes["conv_2"]["shape"] is None  # poisoned
    assert_same(graph, one_by_one(graph))
