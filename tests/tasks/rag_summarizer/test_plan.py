"""rag_summarizer's plan: the rules one by one, and the property "apply, then plan again ->
nothing", with the task's own observe and apply code over in-memory fakes (``fakes.py``)."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.adapters.github.files import Blob, RepoTree
from actors.tasks.rag_summarizer.plan import Observed, Rules, plan_project, summary_hash
from actors.tasks.rag_summarizer.task import observe_project
from contracts.platform import ProjectDocument, ProjectStatus

from tests.tasks.rag_summarizer.fakes import T0, FakeEmbedder, FakeFiles, FakePlatform, World, blob_sha, project

RULES = Rules("m", 8, "s", max_doc_bytes=100, max_docs=3)


def stored(path: str, sha: str, model: str = "m", dimension: int = 8) -> ProjectDocument:
    return ProjectDocument(path=path, content_hash=sha, updated_at=T0, model=model, dimension=dimension)


def observed(blobs=(), documents=(), status=ProjectStatus.ACTIVE, complete=True, summary=None, tree=True):
    return Observed(1, "acme/a", "main", status, RepoTree(tuple(blobs), complete) if tree else None,
                    list(documents), summary)


def test_new_and_changed_documents_are_indexed_and_unchanged_ones_left_alone():
    blobs = [Blob("README.md", "s1", 10), Blob("docs/a.md", "s2", 10), Blob("docs/b.md", "s3", 10)]
    plan = plan_project(observed(blobs, [stored("README.md", "s1"), stored("docs/a.md", "old")]), RULES)
    assert [b.path for b in plan.index] == ["docs/a.md", "docs/b.md"] and plan.delete == ()
    assert plan.summary_hash == summary_hash(blobs, "s")


def test_an_unchanged_project_plans_nothing_at_all():
    blobs = [Blob("README.md", "s1", 10)]
    plan = plan_project(observed(blobs, [stored("README.md", "s1")], summary=summary_hash(blobs, "s")), RULES)
    assert plan.empty


def test_removed_documents_are_deleted_only_after_a_complete_tree():
    documents = [stored("README.md", "s1"), stored("docs/gone.md", "s9")]
    assert plan_project(observed([Blob("README.md", "s1", 10)], documents), RULES).delete == ("docs/gone.md",)
    partial = plan_project(observed([Blob("README.md", "s1", 10)], documents, complete=False), RULES)
    assert partial.delete == () and partial.summary_hash is None, "a partial tree takes nothing for gone"


def test_archived_or_missing_projects_lose_every_document_and_unread_ones_nothing():
    documents = [stored("README.md", "s1"), stored("docs/a.md", "s2")]
    for status in (ProjectStatus.ARCHIVED, ProjectStatus.MISSING):
        plan = plan_project(observed(documents=documents, status=status, tree=False), RULES)
        assert plan.delete == ("README.md", "docs/a.md") and not plan.index and plan.summary_hash is None
    assert plan_project(observed(documents=documents, tree=False), RULES).empty


def test_another_embedding_model_or_dimension_reindexes_the_document():
    blobs = [Blob("README.md", "s1", 10), Blob("docs/a.md", "s2", 10)]
    plan = plan_project(observed(blobs, [stored("README.md", "s1", model="other"), stored("docs/a.md", "s2", dimension=4)]),
                        RULES)
    assert [b.path for b in plan.index] == ["README.md", "docs/a.md"]


def test_too_large_documents_and_those_beyond_the_limit_are_left_out_and_counted():
    blobs = [Blob(f"docs/{n}.md", f"s{n}", 10) for n in range(5)] + [Blob("README.md", "big", 101)]
    plan = plan_project(observed(blobs, [stored("README.md", "big")]), RULES)
    assert [b.path for b in plan.index] == ["docs/0.md", "docs/1.md", "docs/2.md"]
    assert (plan.too_large, plan.over_limit, plan.delete) == (1, 2, ("README.md",))


def test_the_summary_is_made_again_only_when_a_document_changed():
    blobs = [Blob("README.md", "s1", 10)]
    done = summary_hash(blobs, "s")
    assert plan_project(observed(blobs, [stored("README.md", "s1")], summary=done), RULES).summary_hash is None
    changed = [Blob("README.md", "s2", 10)]
    assert plan_project(observed(changed, [stored("README.md", "s1")], summary=done), RULES).summary_hash
    assert plan_project(observed([], [], summary=None), RULES).summary_hash is None, "no documents, no summary"


# ---- applied with the task's own code --------------------------------------------------------------

def test_cycles_write_only_what_changed():
    repos = {"acme/repo-1": {"README.md": b"# One\n\nFirst project.", "docs/a.md": b"# A\n\nText a.",
                             "src/x.py": b"print()"},
             "acme/repo-2": {"README.md": b"# Two\n\nSecond project."}}
    world = World(FakePlatform([project(1), project(2)]), FakeFiles(repos))
    cold = asyncio.run(world.cycle())
    assert (cold["documents_indexed"], cold["summaries"], world.files.content_reads) == (3, 2, 3)
    steady = asyncio.run(world.cycle())
    assert world.platform.writes.total() == 5 and not steady["chunks_embedded"] and world.files.content_reads == 3
    repos["acme/repo-1"]["docs/a.md"] = b"# A\n\nText a, edited."
    edited = asyncio.run(world.cycle())
    assert (edited["documents_indexed"], edited["chunks_embedded"], edited["summaries"]) == (1, 1, 1)
    del repos["acme/repo-1"]["docs/a.md"]
    assert asyncio.run(world.cycle())["documents_deleted"] == 1
    assert set(world.platform.documents[1]) == {"README.md"}
    world.platform.projects[2] = project(2, ProjectStatus.ARCHIVED)
    asyncio.run(world.cycle())
    assert world.platform.documents[2] == {}


def test_an_unreadable_document_holds_back_the_summary_until_it_is_written():
    repos = {"acme/repo-1": {"README.md": b"# One\n\nFirst.", "docs/a.md": b"# A\n\nText."}}
    world = World(FakePlatform([project(1)]), FakeFiles(repos))
    world.files.unreadable.add("docs/a.md")
    first = asyncio.run(world.cycle())
    assert (first["documents_indexed"], first["documents_unreadable"], first["summaries"]) == (1, 1, 0)
    world.files.unreadable.clear()
    second = asyncio.run(world.cycle())
    assert (second["documents_indexed"], second["summaries"]) == (1, 1)


def test_switching_the_embedder_reindexes_everything_with_the_new_model_only():
    repos = {"acme/repo-1": {"README.md": b"# One\n\nFirst.", "docs/a.md": b"# A\n\nText."}}
    world = World(FakePlatform([project(1)]), FakeFiles(repos))
    asyncio.run(world.cycle())
    world.embedder = FakeEmbedder("another-model", 16)
    switched = asyncio.run(world.cycle())
    assert switched["documents_indexed"] == 2
    assert {(d.model, d.dimension) for d in world.platform.documents[1].values()} == {("another-model", 16)}
    assert asyncio.run(world.cycle())["documents_indexed"] == 0


# ---- the property ------------------------------------------------------------------------------------

paths = st.sampled_from(["README.md", "README.rst", "docs/a.md", "docs/deep/b.md", "docs/c.txt", ".project-spec.yaml",
                         "src/main.py"])
contents = st.sampled_from([b"", b"# T\n\nSome words here.", b"\x00\x01binary", b"\xff\xfe latin",
                            b"x" * 150, b"# A\n\n```\ncode\n```\n\ntext"])
repo_files = st.dictionaries(paths, contents, max_size=6)
stored_docs = st.lists(st.tuples(paths, st.sampled_from(["stale", "other"]), st.sampled_from(["m", "fake-embedder"]),
                                 st.sampled_from([8, 4])), max_size=4)
projects_st = st.lists(st.tuples(st.sampled_from(list(ProjectStatus)), repo_files, stored_docs, st.booleans()),
                       min_size=1, max_size=5)


@settings(max_examples=200, deadline=None)
@given(projects_st, st.integers(3, 6))
def test_property_applying_the_plans_then_planning_again_changes_nothing(entries, max_docs):
    from actors.tasks.rag_summarizer.settings import RagSettings
    from contracts.platform import DocumentUpsert

    platform = FakePlatform([project(i, status) for i, (status, *_rest) in enumerate(entries, start=1)])
    repos = {}
    for i, (status, files, docs, on_github) in enumerate(entries, start=1):
        if on_github:
            repos[f"acme/repo-{i}"] = files
        for path, sha, model, size in docs:
            platform.documents.setdefault(i, {})[path] = DocumentUpsert(path=path, content_hash=sha, model=model,
                                                                       dimension=size, chunks=[])
    world = World(platform, FakeFiles(repos),
                  settings=RagSettings(rag_max_docs_per_project=max_docs, rag_max_doc_bytes=120))
    asyncio.run(world.cycle())
    ports = world.ports()
    for i, project_record in platform.projects.items():
        again = plan_project(asyncio.run(observe_project(project_record, world.files, platform,
                                                         world.settings.documents)), ports.rules)
        assert again.empty, again
        if project_record.status in (ProjectStatus.ARCHIVED, ProjectStatus.MISSING):
            assert not platform.documents.get(i)
        elif f"acme/repo-{i}" in repos:
            wanted = sorted(p for p, data in repos[f"acme/repo-{i}"].items()
                            if world.settings.documents.wanted(p) and len(data) <= 120)[:max_docs]
            assert sorted(platform.documents.get(i, {})) == wanted
            for path in wanted:
                document = platform.documents[i][path]
                assert document.content_hash == blob_sha(repos[f"acme/repo-{i}"][path])
                assert (document.model, document.dimension) == ("fake-embedder", 8)
