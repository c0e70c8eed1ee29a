"""The roaming app has no import cycles between its modules (function-level imports count:
grimp reads every import statement), so each module can be read and tested from the bottom up."""

import grimp


def test_no_module_of_roaming_imports_back_into_a_module_that_imports_it():
    graph = grimp.build_graph("roaming")
    modules = sorted(m for m in graph.modules if m.startswith("roaming."))
    cycles = [
        (a, b, graph.find_shortest_chain(importer=a, imported=b), graph.find_shortest_chain(importer=b, imported=a))
        for i, a in enumerate(modules) for b in modules[i + 1:]
        if graph.find_shortest_chain(importer=a, imported=b) and graph.find_shortest_chain(importer=b, imported=a)
    ]
    assert cycles == []


def test_the_tasks_sit_on_top_and_nothing_in_roaming_imports_them():
    graph = grimp.build_graph("roaming")
    importers = graph.find_modules_that_directly_import("roaming.tasks")
    assert importers <= {"roaming.apps"}, importers
