"""The chunker: Markdown-aware, bounded with overlap, code fences whole, deterministic, and calm
in front of empty, tiny, huge, binary and non-UTF-8 files, front matter and reStructuredText."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.tasks.rag_summarizer.chunking import Limits, chunk_document
from actors.tasks.rag_summarizer.markup import decode, kind_of

SMALL = Limits(max_chars=300, overlap_chars=60)


def chunks(text: str | bytes, path: str = "README.md", limits: Limits = SMALL):
    return chunk_document(path, text.encode() if isinstance(text, str) else text, limits)


def test_sections_follow_headings_and_carry_their_path():
    doc = "Intro.\n\n# Service\n\nWhat it does.\n\n## Setup\n\nRun it.\n\n### Docker\n\nBuild.\n\n## Usage\n\nCall it.\n"
    assert [(c.heading, c.text) for c in chunks(doc)] == [
        ("", "Intro."), ("Service", "What it does."), ("Service > Setup", "Run it."),
        ("Service > Setup > Docker", "Build."), ("Service > Usage", "Call it.")]


def test_setext_headings_and_closing_hashes():
    doc = "Title\n=====\n\nAbout.\n\nPart two\n--------\n\nMore.\n\n## Third ##\n\nEnd.\n"
    assert [c.heading for c in chunks(doc)] == ["Title", "Title > Part two", "Title > Third"]


def test_a_heading_inside_a_code_fence_is_code_and_a_fence_is_never_cut():
    code = "```python\n# not a heading\n" + "".join(f"print({i})\n" for i in range(60)) + "```"
    doc = f"# Build\n\nBefore the code.\n\n{code}\n\nAfter the code.\n"
    found = chunks(doc)
    assert all(c.heading == "Build" for c in found)
    assert code in [c.text for c in found], "the whole block, in one chunk, beyond max_chars"
    assert all(c.text.count("```") % 2 == 0 for c in found)


def test_a_tilde_fence_needs_a_closing_fence_of_its_kind_and_an_unclosed_one_runs_to_the_end():
    doc = "# A\n\n~~~~\n```\n# inside\n~~~~\n\n# B\n\ntext\n\n```\nunclosed\n# still code\n"
    found = chunks(doc)
    assert [c.heading for c in found] == ["A", "B"]
    assert found[0].text == "~~~~\n```\n# inside\n~~~~" and found[-1].text.endswith("# still code")


def test_a_code_block_beyond_four_chunks_is_cut_between_lines_each_piece_fenced_again():
    code = "```\n" + "".join(f"line number {i:04d}\n" for i in range(300)) + "```"
    found = chunks(f"# Big\n\n{code}\n")
    assert len(found) > 4 and all(c.text.startswith("```\n") and c.text.endswith("\n```") for c in found)
    assert all(len(c.text) <= SMALL.max_chars for c in found)
    body = "".join(c.text[4:-4] + "\n" for c in found)
    assert body == "".join(f"line number {i:04d}\n" for i in range(300))


def test_chunks_are_bounded_and_overlap_within_a_section():
    sentences = " ".join(f"Sentence {i} says something useful." for i in range(80))
    found = chunks(f"# Long\n\n{sentences}\n")
    assert len(found) > 5 and all(len(c.text) <= SMALL.max_chars for c in found)
    for before, after in zip(found, found[1:]):
        head = after.text.split(" Sentence")[0]
        assert before.text.endswith(head[-20:]), "the next chunk starts with the end of the previous one"
    words = " ".join(c.text for c in found).split()
    assert all(f"{i}" in words for i in range(80))


def test_a_word_longer_than_a_chunk_is_cut_anywhere():
    found = chunks("# X\n\n" + "a" * 1000)
    assert all(len(c.text) <= SMALL.max_chars for c in found) and sum(c.text.count("a") for c in found) >= 1000


def test_the_same_document_always_gives_the_same_chunks():
    doc = "# A\n\n" + "Words and more words. " * 100 + "\n\n```\ncode\n```\n"
    assert chunks(doc) == chunks(doc) and [c.index for c in chunks(doc)] == list(range(len(chunks(doc))))


def test_empty_blank_binary_and_heading_only_files():
    assert chunks("") == [] and chunks("  \n\n\t\n") == []
    assert chunks(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR") == []
    assert chunks(bytes(range(1, 32)) * 50) == [], "mostly control characters: binary"
    assert [(c.heading, c.text) for c in chunks("# Only a title\n")] == [("", "Only a title")]
    assert [c.text for c in chunks("tiny")] == ["tiny"]


def test_non_utf8_and_utf16_and_bom_and_crlf_are_read():
    assert chunks("# Caf\xe9\r\n\r\nna\xefve text\r\n".encode("cp1252"))[0].text == "naïve text"
    assert chunks("# Title\n\nUTF-16 text".encode("utf-16"))[0].text == "UTF-16 text"
    assert chunks(b"\xef\xbb\xbf# T\n\nbom")[0].heading == "T"
    assert decode(b"\x81\x8d ok") is not None, "bytes Windows-1252 leaves undefined become replacement characters"


def test_front_matter_is_left_out_and_its_title_names_a_document_without_h1():
    doc = "---\ntitle: \"Alerting\"\ntags: [a]\n---\nIntro text.\n\n## Channels\n\nTelegram.\n"
    assert [(c.heading, c.text) for c in chunks(doc)] == [("Alerting", "Intro text."),
                                                          ("Alerting > Channels", "Telegram.")]
    assert chunks("+++\ntitle = \"Toml\"\n+++\nBody.\n")[0].heading == "Toml"
    assert chunks("---\nno: close\nBody\n")[0].text.startswith("---"), "not front matter without its end"


def test_restructuredtext_readmes():
    doc = ("=======\nProject\n=======\n\nIntro.\n\nInstall\n-------\n\nRun this::\n\n    pip install x\n"
           "    x --help\n\nThen go.\n\nDetails\n~~~~~~~\n\nDeep.\n\nUsage\n-------\n\nUse it.\n")
    found = chunks(doc, "README.rst")
    assert [c.heading for c in found] == ["Project", "Project > Install", "Project > Install > Details",
                                          "Project > Usage"]
    assert "    pip install x\n    x --help" in found[1].text
    assert kind_of("README") == "markdown" and kind_of("docs/x.rst") == "rst" and kind_of(".project-spec.yaml") == "plain"


def test_yaml_specs_are_plain_text_where_a_hash_is_no_heading():
    found = chunks("# a comment\nname: svc\nalerts: telegram\n", ".project-spec.yaml")
    assert [(c.heading, c.text) for c in found] == [("", "# a comment\nname: svc\nalerts: telegram")]


def test_a_huge_document_is_chunked_in_bounded_pieces():
    doc = "".join(f"## Part {i}\n\n" + "Text of the part. " * 50 + "\n\n" for i in range(400))
    found = chunk_document("docs/huge.md", doc.encode(), Limits())
    assert len(found) >= 400 and all(len(c.text) <= Limits().max_chars for c in found)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["# H1", "## H2", "Para text here.", "```", "~~~", "", "---", "===", "x" * 120,
                                 "- item", "    indented", "Title", "::"]), max_size=40),
       st.integers(100, 400), st.integers(0, 80))
def test_property_any_markdown_gives_bounded_deterministic_chunks_with_balanced_fences(lines, size, overlap):
    limits = Limits(size, overlap)
    data = "\n".join(lines).encode()
    first = chunk_document("README.md", data, limits)
    assert first == chunk_document("README.md", data, limits)
    for chunk in first:
        assert chunk.text.strip()
        if "```" not in chunk.text and "~~~" not in chunk.text:
            assert len(chunk.text) <= limits.max_chars
        else:
            assert len(chunk.text) <= limits.code_max_chars + 8
