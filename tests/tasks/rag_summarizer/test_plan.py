"""rag_summarizer's plan: the rules one by one, and the property "apply, then plan again ->
nothing", with the task's own reconcile and apply code over in-memory fakes (``fakes.py``)."""

from __future__ import annotations

import asyncio
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.adapters.github.files import Blob, RepoTree
from actors.tasks.rag_summarizer.apply import DOCUMENT_SOURCE_TYPE, SUMMARY_SOURCE_TYPE
from actors.tasks.rag_summarizer.plan import NAME, SUMMARY, UNCONFIRMED, Observed, Rules, plan_project, summary_hash
from actors.tasks.rag_summarizer.settings import RagSummarizerSettings
from actors.tasks.rag_summarizer.task import primary_repositories
from actors.tasks.rag_summarizer.text import decode
from contracts.platform import ProjectStatus, content_hash
from tests.tasks.rag_summarizer.fakes import OWNER, FakeFiles, World, blob_sha, project

RULES = Rules("s", max_doc_bytes=100, max_docs=3)
PID = uuid.UUID(int=1)


def observed(blobs=(), sent=None, status=ProjectStatus.ACTIVE, complete=True, tree=True):
    return Observed(
        PID,
        OWNER,
        "acme/a",
        "https://github.com/acme/a.git",
        status,
        RepoTree(tuple(blobs), complete) if tree else None,
        dict(sent or {}),
    )


def test_new_and_changed_documents_are_sent_and_unchanged_ones_left_alone():
    blobs = [Blob("README.md", "s1", 10), Blob("docs/a.md", "s2", 10), Blob("docs/b.md", "s3", 10)]
    plan = plan_project(observed(blobs, {"README.md": "s1", "docs/a.md": "old"}), RULES)
    assert [b.path for b in plan.ingest] == ["docs/a.md", "docs/b.md"] and plan.empty == ()
    assert plan.summary_hash == summary_hash(blobs, "s") and plan.documents == tuple(blobs)


def test_an_unchanged_project_plans_nothing_at_all():
    blobs = [Blob("README.md", "s1", 10)]
    plan = plan_project(observed(blobs, {"README.md": "s1", SUMMARY: summary_hash(blobs, "s"), NAME: "acme/a"}), RULES)
    assert plan.nothing


def test_removed_documents_are_emptied_only_after_a_complete_tree():
    sent = {"README.md": "s1", "docs/gone.md": "s9"}
    assert plan_project(observed([Blob("README.md", "s1", 10)], sent), RULES).empty == ("docs/gone.md",)
    partial = plan_project(observed([Blob("README.md", "s1", 10)], sent, complete=False), RULES)
    assert partial.empty == () and partial.summary_hash is None, "a partial tree takes nothing for gone"


def test_archived_projects_are_emptied_and_unread_ones_left_alone():
    sent = {"README.md": "s1", "docs/a.md": "s2", SUMMARY: "h"}
    plan = plan_project(observed(sent=sent, status=ProjectStatus.ARCHIVED, tree=False), RULES)
    assert plan.empty == ("README.md", "docs/a.md") and plan.empty_summary and not plan.ingest
    for status in (ProjectStatus.DRAFT, ProjectStatus.ACTIVE, ProjectStatus.PAUSED):
        assert plan_project(observed(sent=sent | {NAME: "acme/a"}, status=status, tree=False), RULES).nothing


def test_too_large_documents_and_those_beyond_the_limit_are_left_out_and_counted():
    blobs = [Blob(f"docs/{n}.md", f"s{n}", 10) for n in range(5)] + [Blob("README.md", "big", 101)]
    plan = plan_project(observed(blobs, {"README.md": "big"}), RULES)
    assert [b.path for b in plan.ingest] == ["docs/0.md", "docs/1.md", "docs/2.md"]
    assert (plan.too_large, plan.over_limit, plan.empty) == (1, 2, ("README.md",))


def test_the_summary_is_made_again_only_when_a_document_changed_and_only_where_configured():
    blobs = [Blob("README.md", "s1", 10)]
    done = {"README.md": "s1", SUMMARY: summary_hash(blobs, "s")}
    assert plan_project(observed(blobs, done), RULES).summary_hash is None
    assert plan_project(observed([Blob("README.md", "s2", 10)], done), RULES).summary_hash
    assert plan_project(observed([Blob("README.md", "s2", 10)], done), Rules(None)).summary_hash is None
    gone = plan_project(observed([], done), RULES)
    assert gone.summary_hash is None and gone.empty_summary and gone.empty == ("README.md",)


def test_after_a_rename_everything_sent_under_the_old_name_is_emptied_and_all_sent_again():
    blobs = [Blob("README.md", "s1", 10), Blob("docs/a.md", "s2", 10)]
    sent = {
        "README.md": "s1",
        "docs/a.md": "s2",
        "docs/gone.md": "s3",
        SUMMARY: summary_hash(blobs, "s"),
        NAME: "acme/old",
    }
    plan = plan_project(observed(blobs, sent), RULES)
    assert plan.sent_under == "acme/old" and plan.empty == ("README.md", "docs/a.md", "docs/gone.md")
    assert plan.empty_summary and plan.ingest == tuple(blobs) and plan.summary_hash == summary_hash(blobs, "s")
    assert plan.record_name
    unread = plan_project(observed(sent=sent, tree=False), RULES)
    assert unread.sent_under == "acme/old" and len(unread.empty) == 3 and not unread.ingest, (
        "the old name's documents go whether or not the tree is read"
    )
    archived = plan_project(observed(sent=sent, status=ProjectStatus.ARCHIVED, tree=False), RULES)
    assert archived.sent_under == "acme/old" and len(archived.empty) == 3 and not archived.record_name


def test_a_memory_without_the_name_is_taken_for_the_current_name_and_records_it():
    blobs = [Blob("README.md", "s1", 10)]
    plan = plan_project(observed(blobs, {"README.md": "s1", SUMMARY: summary_hash(blobs, "s")}), RULES)
    assert plan.record_name and not (plan.ingest or plan.empty or plan.sent_under or plan.summary_hash)
    assert plan_project(observed(blobs, {}), RULES).record_name, "sent for the first time: the name with it"
    assert not plan_project(observed([], {}), RULES).record_name, "nothing to hold, nothing to record"


def test_the_primary_repository_of_the_org_names_the_project():
    (p1, r1, _), (p2, r2, _), (p3, _, _) = project(1), project(2), project(3)
    foreign = r2.model_copy(update={"git_url": "https://github.com/elsewhere/repo-2.git"})
    dependency = r1.model_copy(
        update={"role": "dependency", "id": "repo-dep", "git_url": "https://github.com/acme/lib"}
    )
    assert primary_repositories([p1, p2, p3], [dependency, r1, foreign], "ACME") == [(p1, r1, "acme/repo-1")]


# ---- applied with the task's own code --------------------------------------------------------------


def run(world: World):
    return asyncio.run(world.cycle())


def test_cycles_send_only_what_changed_and_empty_what_went():
    repos = {
        "acme/repo-1": {
            "README.md": b"# One\n\nFirst project.",
            "docs/a.md": b"# A\n\nText a.",
            "src/x.py": b"print()",
        },
        "acme/repo-2": {"README.md": b"# Two\n\nSecond project."},
    }
    (p1, r1, n1), (p2, r2, n2) = project(1), project(2)
    world = World([(p1, r1, n1), (p2, r2, n2)], FakeFiles(repos))
    cold = run(world)
    assert (cold["ingests"], cold["documents_indexed"], cold["summaries"], world.files.content_reads) == (
        5,
        5,
        2,
        3 + 3,
    )
    assert world.platform.searchable(p1.id)["acme/repo-1:docs/a.md"] == "# A\n\nText a."
    reads, requests = world.files.content_reads, world.platform.requests
    steady = run(world)
    assert (world.platform.requests, world.files.content_reads) == (requests, reads) and not steady["ingests"]
    repos["acme/repo-1"]["docs/a.md"] = b"# A\n\nText a, edited."
    edited = run(world)
    # the document and the summary; the fake summary (its paths) reads the same, so the platform skips it
    assert (edited["ingests"], edited["documents_indexed"], edited["documents_skipped"], edited["summaries"]) == (
        2,
        1,
        1,
        1,
    )
    assert world.memory.data[p1.id][NAME] == "acme/repo-1"
    del repos["acme/repo-1"]["docs/a.md"]
    removed = run(world)
    assert removed["documents_emptied"] == 1 and "acme/repo-1:docs/a.md" not in world.platform.searchable(p1.id)
    world.projects[1] = (p2.model_copy(update={"status": ProjectStatus.ARCHIVED}), r2, n2)
    archived = run(world)
    assert world.platform.searchable(p2.id) == {} and archived["summaries_emptied"] == 1
    assert not run(world)["ingests"]


def test_a_renamed_repository_is_found_under_its_new_name_only():
    repos = {"acme/repo-1": {"README.md": b"# One\n\nFirst.", "docs/a.md": b"# A\n\nText."}}
    world = World([project(1)], FakeFiles(repos))
    run(world)
    p1 = world.projects[0][0]
    assert set(world.platform.searchable(p1.id)) == {
        "acme/repo-1:README.md",
        "acme/repo-1:docs/a.md",
        "acme/repo-1:summary",
    }
    repos["acme/renamed"] = repos.pop("acme/repo-1")
    world.projects = [project(1, name="renamed")]
    world.platform.refuse.add("acme/repo-1:docs/a.md")  # one of the old name's documents is refused once
    first = run(world)
    assert first["records_failed"] == 1 and not first["renamed"]
    assert world.memory.data[p1.id][NAME] == "acme/repo-1", "the old name kept until all of it is emptied"
    world.platform.refuse.clear()
    second = run(world)
    assert second["renamed"] == 1
    assert set(world.platform.searchable(p1.id)) == {
        "acme/renamed:README.md",
        "acme/renamed:docs/a.md",
        "acme/renamed:summary",
    }
    assert world.memory.data[p1.id][NAME] == "acme/renamed"
    repos["acme/renamed"]["docs/a.md"] = b"# A\n\nText, edited."
    run(world)
    assert world.platform.searchable(p1.id)["acme/renamed:docs/a.md"] == "# A\n\nText, edited."
    assert not [s for s in world.platform.searchable(p1.id) if s.startswith("acme/repo-1:")], "found once, not twice"
    assert not run(world)["ingests"]


def test_a_repository_renamed_then_gone_leaves_nothing_searchable_under_either_name():
    """Found by the soak: an old-name document refused, the new name's sent all the same, then the
    project archived: the memory said the old name, so the new name's documents were never emptied."""
    repos = {"acme/repo-1": {"README.md": b"# One\n\nFirst.", "docs/a.md": b"# A\n\nText."}}
    world = World([project(1)], FakeFiles(repos), summaries=False)
    run(world)
    p1 = world.projects[0][0]
    repos["acme/renamed"] = repos.pop("acme/repo-1")
    world.projects = [project(1, name="renamed")]
    world.platform.refuse.add("acme/repo-1:docs/a.md")
    assert run(world)["records_failed"] == 1
    assert not [s for s in world.platform.searchable(p1.id) if s.startswith("acme/renamed:")], (
        "nothing is sent under the new name while the old one's documents remain"
    )
    world.platform.refuse.clear()
    record, repository, name = project(1, ProjectStatus.ARCHIVED, name="renamed")
    world.projects = [(record, repository, name)]
    run(world)
    assert world.platform.searchable(p1.id) == {} and not world.memory.data.get(p1.id)
    assert not run(world)["ingests"]


def test_what_is_sent_names_the_repository_the_path_and_the_owner():
    repos = {"acme/repo-1": {"docs/guide.md": "Guide\n=====\n\nUnicode ✓ text.".encode()}}
    world = World([project(1)], FakeFiles(repos), summaries=False)
    run(world)
    [(key, (digest, content))] = world.platform.documents.items()
    assert key == (OWNER, uuid.UUID(int=1), "project", DOCUMENT_SOURCE_TYPE, "acme/repo-1:docs/guide.md")
    assert digest == content_hash(content) and content == "Guide\n=====\n\nUnicode ✓ text."


def test_a_refused_document_is_that_documents_failure_and_holds_back_the_summary():
    repos = {"acme/repo-1": {"README.md": b"# One\n\nFirst.", "docs/a.md": b"# A\n\nText."}}
    world = World([project(1)], FakeFiles(repos))
    world.platform.refuse.add("acme/repo-1:docs/a.md")
    first = run(world)
    assert (first["ingests"], first["records_failed"], first["summaries"]) == (1, 1, 0)
    world.platform.refuse.clear()
    second = run(world)
    assert (second["ingests"], second["summaries"]) == (2, 1)  # the refused one, then the summary
    keys = {key[3:] for key in world.platform.documents}
    assert (SUMMARY_SOURCE_TYPE, "acme/repo-1:summary") in keys


def test_an_unreadable_document_holds_back_the_summary_until_it_is_sent():
    repos = {"acme/repo-1": {"README.md": b"# One\n\nFirst.", "docs/a.md": b"# A\n\nText."}}
    world = World([project(1)], FakeFiles(repos))
    world.files.unreadable.add("docs/a.md")
    first = run(world)
    assert (first["ingests"], first["documents_unreadable"], first["summaries"]) == (1, 1, 0)
    world.files.unreadable.clear()
    second = run(world)
    assert (second["ingests"], second["summaries"]) == (2, 1)


def test_a_document_whose_answer_was_lost_is_emptied_once_its_project_is_archived():
    repos = {"acme/repo-1": {"README.md": b"# One\n\nFirst."}}
    (record, repository, name) = project(1)
    world = World([(record, repository, name)], FakeFiles(repos), summaries=False)
    world.platform.lose_answers = 1  # the platform takes the README; its answer never comes
    lost = run(world)
    assert lost["records_failed"] == 1 and world.platform.searchable(record.id) == {
        "acme/repo-1:README.md": "# One\n\nFirst."
    }
    assert world.memory.data[record.id]["README.md"] == UNCONFIRMED
    world.projects = [(record.model_copy(update={"status": ProjectStatus.ARCHIVED}), repository, name)]
    archived = run(world)
    assert archived["documents_emptied"] == 1 and world.platform.searchable(record.id) == {}
    assert not world.memory.data[record.id]


def test_a_summary_whose_answer_was_lost_is_emptied_once_its_project_is_archived():
    repos = {"acme/repo-1": {"README.md": b"# One\n\nFirst."}}
    (record, repository, name) = project(1)
    world = World([(record, repository, name)], FakeFiles(repos), summaries=False)
    run(world)  # the README, taken
    world.summaries, world.platform.lose_answers = True, 1  # the summary's answer never comes
    assert run(world)["records_failed"] == 1
    assert world.memory.data[record.id][SUMMARY] == UNCONFIRMED
    assert "acme/repo-1:summary" in world.platform.searchable(record.id)
    world.projects = [(record.model_copy(update={"status": ProjectStatus.ARCHIVED}), repository, name)]
    assert run(world)["summaries_emptied"] == 1 and world.platform.searchable(record.id) == {}


def test_lost_memory_costs_reads_but_the_platform_skips_what_it_holds():
    repos = {"acme/repo-1": {"README.md": b"# One\n\nFirst."}}
    world = World([project(1)], FakeFiles(repos), summaries=False)
    run(world)
    world.memory.data.clear()
    again = run(world)
    assert (again["ingests"], again["documents_skipped"], again["documents_indexed"]) == (1, 1, 0)


# ---- the property ------------------------------------------------------------------------------------

paths = st.sampled_from(
    ["README.md", "README.rst", "docs/a.md", "docs/deep/b.md", "docs/c.txt", ".project-spec.yaml", "src/main.py"]
)
contents = st.sampled_from(
    [
        b"",
        b"# T\n\nSome words here.",
        b"\x00\x01binary",
        b"\xff\xfe latin",
        b"x" * 150,
        b"# A\n\n```\ncode\n```\n\ntext",
    ]
)
repo_files = st.dictionaries(paths, contents, max_size=6)
remembered = st.dictionaries(paths, st.sampled_from(["stale", "other", UNCONFIRMED]), max_size=4)
#: the name the memory says its documents were sent under: none (older memory), the current one, another
sent_under = st.sampled_from([None, "current", "acme/former-name"])
projects_st = st.lists(
    st.tuples(st.sampled_from(list(ProjectStatus)), repo_files, remembered, st.booleans(), sent_under),
    min_size=1,
    max_size=5,
)


@settings(max_examples=150, deadline=None)
@given(projects_st, st.integers(3, 6), st.booleans())
def test_property_applying_the_plans_then_planning_again_changes_nothing(entries, max_docs, summaries):
    repos, projects = {}, []
    world = World(
        [],
        FakeFiles(repos),
        settings=RagSummarizerSettings(rag_max_docs_per_project=max_docs, rag_max_doc_bytes=120),
        summaries=summaries,
    )
    for i, (status, files, sent, on_github, under) in enumerate(entries, start=1):
        record, repository, full_name = project(i, status)
        projects.append((record, repository, full_name))
        if on_github:
            repos[full_name] = files
        world.memory.data[record.id] = dict(sent) | (
            {NAME: full_name if under == "current" else under} if under else {}
        )
    world.projects = projects
    run(world)
    rules = world.rules()
    for record, repository, full_name in projects:
        tree = asyncio.run(world.files.tree(full_name, "HEAD", world.settings.documents))
        again = plan_project(
            Observed(
                record.id,
                OWNER,
                full_name,
                repository.git_url,
                record.status,
                tree,
                world.memory.data.get(record.id, {}),
            ),
            rules,
        )
        assert again.nothing, again
        searchable = world.platform.searchable(record.id)
        assert not [sid for sid in searchable if not sid.startswith(f"{full_name}:")], "only the current name"
        if record.status is ProjectStatus.ARCHIVED:
            assert searchable == {} and not world.memory.data.get(record.id)
        elif full_name in repos:
            wanted = sorted(
                p for p, data in repos[full_name].items() if world.settings.documents.wanted(p) and len(data) <= 120
            )[:max_docs]
            assert sorted(world.memory.data[record.id].keys() - {SUMMARY, NAME}) == wanted
            for path in wanted:
                assert world.memory.data[record.id][path] == blob_sha(repos[full_name][path])
                text = decode(repos[full_name][path])
                assert searchable.get(f"{full_name}:{path}") == (text or None)
