"""RAG through the platform client against the stand-in: the signed ingest, dedupe, the
"delete" by empty content, query by meaning within a project, every exchange held against the
platform's OpenAPI document (the ingest's body, which the document does not describe because the
platform reads the raw request, is held against our contract instead)."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
import time
import uuid

import httpx
import pytest
import structlog
from pydantic import SecretStr, ValidationError

from actors.adapters.platform.client import (
    IngestNotConfigured,
    PlatformAPIError,
    PlatformClient,
    PlatformUnavailable,
    rag_signature,
)
from contracts.platform import RagDocument, RagIngest, RagQuery, content_hash
from sandbox.embeddings.app import embeddings_app
from sandbox.http import ServedApp
from sandbox.platform.api import create_app
from sandbox.platform.store_rag import CHUNK_TOKENS, OVERLAP_TOKENS, chunk_text, count_tokens
from tests.platform_conformance import CheckedTransport, assert_response_conforms

KEY = "rag-test-internal-key"


def aio(test):
    """An async test run to its end in a fresh event loop (the suite has no async plugin)."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return run


RAG_SECRET = "rag-test-ingest-secret-83a1"  # must never appear in a log line


class RagChecked(CheckedTransport):
    """The conformance transport, with the ingest's body held against ``RagIngest`` (the
    platform's document declares no body there: its handler reads the raw request)."""

    def __init__(self):
        super().__init__()
        self.signed: list[tuple[bytes, dict[str, str]]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/rag/ingest":
            RagIngest.model_validate_json(request.content)
            self.signed.append((request.content, dict(request.headers)))
            response = await self.inner.handle_async_request(request)
            raw = await response.aread()
            assert_response_conforms("POST", "/api/rag/ingest", response.status_code, json.loads(raw))
            return httpx.Response(response.status_code, headers=response.headers, content=raw, request=request)
        return await super().handle_async_request(request)


@pytest.fixture(scope="module")
def embeddings():
    with ServedApp(embeddings_app()) as served:
        yield served


@pytest.fixture
def platform(embeddings):
    app = create_app(api_key=KEY, rag_ingest_secret=RAG_SECRET, embeddings_url=f"{embeddings.url}/v1")
    with ServedApp(app) as served:
        owner = app.store.create_user(900000001, username="owner")
        other = app.store.create_user(900000002, username="someone")
        projects = [
            uuid.UUID(app.store.create_project(title=f"rag-{n}", owner_id=owner["id"], initiating_run_id="test")["id"])
            for n in range(2)
        ]
        yield app, served.url, owner["id"], other["id"], projects


def client(url: str, secret: str | None = RAG_SECRET, transport=None, **kw) -> PlatformClient:
    return PlatformClient(
        url,
        SecretStr(KEY),
        rag_ingest_secret=SecretStr(secret) if secret else None,
        transport=transport,
        backoff_base=0.01,
        **kw,
    )


def doc(source_id: str, content: str, **extra) -> RagDocument:
    return RagDocument(
        source_type="repository_doc",
        source_id=source_id,
        path=source_id.split(":", 1)[-1],
        title=extra.pop("title", None),
        content=content,
        content_hash=content_hash(content),
        **extra,
    )


BILLING = (
    "# Billing\n\nThe billing service issues invoices every month, collects card payments and "
    "refunds customers when a charge fails."
)
DEPLOY = (
    "# Deployment\n\nServers are provisioned with Ansible; containers are rolled out one host at a "
    "time behind the load balancer."
)


def test_the_signature_is_the_platforms_hmac_over_the_exact_bytes():
    body = b'{"a":1}'
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert rag_signature("s3cret", 1700000000, body) == f"sha256={expected}"


@aio
async def test_ingest_is_signed_over_what_is_sent_and_conforms(platform):
    app, url, owner, _, (project, _) = platform
    transport = RagChecked()
    async with client(url, transport=transport) as api:
        result = await api.ingest(
            RagIngest(
                project_id=project, user_id=owner, documents=[doc("acme/a:README.md", "Unicode: café ✓ — " + BILLING)]
            )
        )
    assert (result.documents_received, result.documents_indexed, result.documents_skipped) == (1, 1, 0)
    body, headers = transport.signed[0]
    stamp = int(headers["x-rag-timestamp"])
    assert abs(stamp - time.time()) < 60
    assert headers["x-rag-signature"] == rag_signature(RAG_SECRET, stamp, body)
    assert "café" in body.decode("utf-8")  # sent as UTF-8, not escaped: the bytes signed are the bytes sent
    assert headers["x-internal-key"] == KEY and headers["x-correlation-id"]


@aio
async def test_unchanged_documents_are_skipped_and_changed_ones_replace_their_chunks(platform):
    app, url, owner, _, (project, _) = platform
    async with client(url) as api:
        first = RagIngest(
            project_id=project,
            user_id=owner,
            documents=[doc("acme/a:README.md", BILLING), doc("acme/a:docs/deploy.md", DEPLOY)],
        )
        assert (await api.ingest(first)).documents_indexed == 2
        again = await api.ingest(first)
        assert (again.documents_indexed, again.documents_skipped) == (0, 2)
        changed = RagIngest(
            project_id=project,
            user_id=owner,
            documents=[doc("acme/a:README.md", BILLING + "\n\nRefunds take five days.")],
        )
        assert (await api.ingest(changed)).documents_indexed == 1
    rows = {row["source_id"]: row for row in app.store.rag_documents(str(project))}
    assert set(rows) == {"acme/a:README.md", "acme/a:docs/deploy.md"}  # replaced, not added
    assert rows["acme/a:README.md"]["body"].endswith("five days.")
    assert rows["acme/a:README.md"]["chunk_count"] == 1


@aio
async def test_query_finds_by_meaning_within_the_project_only(platform):
    app, url, owner, _, (project, elsewhere) = platform
    async with client(url, transport=CheckedTransport()) as api:
        await api.ingest(
            RagIngest(
                project_id=project,
                user_id=owner,
                documents=[doc("acme/a:README.md", BILLING), doc("acme/a:docs/deploy.md", DEPLOY)],
            )
        )
        await api.ingest(
            RagIngest(
                project_id=elsewhere,
                user_id=owner,
                documents=[doc("acme/b:README.md", BILLING.replace("Billing", "Payments"))],
            )
        )
        found = await api.query(
            RagQuery(
                query="how are customers refunded after a failed card charge?",
                project_id=project,
                user_id=owner,
                min_similarity=0.2,
            )
        )
        assert [hit.source_id for hit in found.results][0] == "acme/a:README.md"
        assert all(hit.source_id.startswith("acme/a:") for hit in found.results)
        assert found.results[0].chunk_text.startswith("# Billing") and found.results[0].title == "README.md"
        assert found.total_tokens == sum(hit.token_count for hit in found.results)
        strict = await api.query(
            RagQuery(query="how are customers refunded?", project_id=project, user_id=owner, min_similarity=0.99)
        )
        assert strict.results == []  # below min_similarity: nothing


@aio
async def test_empty_content_leaves_the_document_without_chunks_so_it_is_no_longer_found(platform):
    app, url, owner, _, (project, _) = platform
    async with client(url) as api:
        await api.ingest(RagIngest(project_id=project, user_id=owner, documents=[doc("acme/a:docs/deploy.md", DEPLOY)]))
        query = RagQuery(
            query="rolling out containers behind the load balancer",
            project_id=project,
            user_id=owner,
            min_similarity=0.2,
        )
        assert [hit.source_id for hit in (await api.query(query)).results] == ["acme/a:docs/deploy.md"]
        emptied = await api.ingest(
            RagIngest(project_id=project, user_id=owner, documents=[doc("acme/a:docs/deploy.md", "")])
        )
        assert emptied.documents_indexed == 1
        assert (await api.query(query)).results == []
        again = await api.ingest(
            RagIngest(project_id=project, user_id=owner, documents=[doc("acme/a:docs/deploy.md", "")])
        )
        assert again.documents_skipped == 1  # emptied once: the same empty hash is skipped
    [row] = app.store.rag_documents(str(project))
    assert (row["chunk_count"], row["body"]) == (0, "")  # the row stays, as on the platform


@aio
async def test_a_wrong_secret_is_a_401_that_concerns_every_write(platform):
    app, url, owner, _, (project, _) = platform
    async with client(url, secret="not-the-secret") as api:
        with pytest.raises(PlatformAPIError) as refused:
            await api.ingest(RagIngest(project_id=project, user_id=owner, documents=[doc("acme/a:README.md", "x")]))
    assert refused.value.status == 401 and not refused.value.per_record
    assert app.store.rag_documents() == []


@aio
async def test_raw_requests_without_or_with_a_stale_signature_are_refused(platform):
    app, url, owner, _, (project, _) = platform
    body = json.dumps(
        {
            "event": "rag.docs.upsert",
            "project_id": str(project),
            "user_id": owner,
            "documents": [{"source_type": "t", "source_id": "s", "scope": "project", "content": "hi"}],
        }
    )
    headers = {"X-Internal-Key": KEY, "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=url) as raw:
        unsigned = await raw.post("/api/rag/ingest", content=body, headers=headers)
        stale = int(time.time()) - 400
        old = await raw.post(
            "/api/rag/ingest",
            content=body,
            headers={
                **headers,
                "X-RAG-Timestamp": str(stale),
                "X-RAG-Signature": rag_signature(RAG_SECRET, stale, body.encode()),
            },
        )
        now = int(time.time())
        tampered = await raw.post(
            "/api/rag/ingest",
            content=body.replace("hi", "ho"),
            headers={
                **headers,
                "X-RAG-Timestamp": str(now),
                "X-RAG-Signature": rag_signature(RAG_SECRET, now, body.encode()),
            },
        )
        no_prefix = await raw.post(
            "/api/rag/ingest",
            content=body,
            headers={
                **headers,
                "X-RAG-Timestamp": str(now),
                "X-RAG-Signature": rag_signature(RAG_SECRET, now, body.encode()).removeprefix("sha256="),
            },
        )
        no_key = await raw.post("/api/rag/ingest", content=body, headers={"Content-Type": "application/json"})
    assert [r.status_code for r in (unsigned, old, tampered, no_prefix, no_key)] == [401, 401, 401, 400, 401]
    for response in (unsigned, old, tampered, no_prefix, no_key):
        assert_response_conforms("POST", "/api/rag/ingest", response.status_code, response.json())
    assert app.store.rag_documents() == []


@aio
async def test_the_stand_in_without_a_secret_answers_500(embeddings):
    app = create_app(api_key=KEY, rag_ingest_secret=None, embeddings_url=f"{embeddings.url}/v1")
    with ServedApp(app) as served:
        owner = app.store.create_user(1, username="o")["id"]
        project = app.store.create_project(title="p", owner_id=owner, initiating_run_id="t")["id"]
        async with client(served.url, max_attempts=1) as api:
            with pytest.raises(PlatformUnavailable, match="HTTP 500"):
                await api.ingest(RagIngest(project_id=project, user_id=owner, documents=[doc("a:b", "text")]))


@aio
async def test_unknown_project_or_user_is_a_404_for_that_ingest(platform):
    _, url, owner, _, (project, _) = platform
    async with client(url) as api:
        for project_id, user_id in ((uuid.uuid4(), owner), (project, 999_999)):
            with pytest.raises(PlatformAPIError) as refused:
                await api.ingest(RagIngest(project_id=project_id, user_id=user_id, documents=[doc("a:b", "text")]))
            assert refused.value.status == 404 and refused.value.per_record


@aio
async def test_no_embeddings_means_500_on_ingest_and_503_on_query():
    app = create_app(api_key=KEY, rag_ingest_secret=RAG_SECRET, embeddings_url=None)
    with ServedApp(app) as served:
        owner = app.store.create_user(1, username="o")["id"]
        project = app.store.create_project(title="p", owner_id=owner, initiating_run_id="t")["id"]
        async with client(served.url, max_attempts=1) as api:
            with pytest.raises(PlatformUnavailable, match="HTTP 500"):
                await api.ingest(RagIngest(project_id=project, user_id=owner, documents=[doc("a:b", "some text")]))
            emptied = await api.ingest(RagIngest(project_id=project, user_id=owner, documents=[doc("a:b", "")]))
            assert emptied.documents_indexed == 1  # no chunk, nothing to embed
            with pytest.raises(PlatformUnavailable, match="HTTP 503"):
                await api.query(RagQuery(query="x", project_id=project, user_id=owner))


@aio
async def test_a_client_without_the_secret_sends_nothing(platform):
    app, url, owner, _, (project, _) = platform
    async with client(url, secret=None) as api:
        with pytest.raises(IngestNotConfigured):
            await api.ingest(RagIngest(project_id=project, user_id=owner, documents=[doc("a:b", "x")]))
    assert app.store.rag_documents() == []


@aio
async def test_the_secret_is_never_logged(platform):
    _, url, owner, _, (project, _) = platform
    with structlog.testing.capture_logs() as logs:
        async with client(url, secret="wrong-" + RAG_SECRET) as api:
            with pytest.raises(PlatformAPIError) as refused:
                await api.ingest(RagIngest(project_id=project, user_id=owner, documents=[doc("a:b", "x")]))
    assert RAG_SECRET not in repr(logs) and RAG_SECRET not in str(refused.value)


def test_our_models_are_stricter_than_the_platforms():
    with pytest.raises(ValidationError, match="content_hash"):
        RagDocument(source_type="repository_doc", source_id="a:b", content="x", content_hash=content_hash("y"))
    with pytest.raises(ValidationError):
        RagDocument(source_type="repository_doc", source_id="a" * 256, content="x")  # the platform's column: 255
    with pytest.raises(ValidationError):
        RagDocument(source_type="repository_doc", source_id="a:b", content="x", surprise=1)
    with pytest.raises(ValidationError, match="project_id"):
        RagQuery(query="x", user_id=1)
    assert content_hash("") == "sha256:" + hashlib.sha256(b"").hexdigest()


def test_the_stand_ins_chunks_follow_the_platforms_recipe_in_words():
    assert chunk_text("") == [] and chunk_text("\n\n  \n") == []
    short = "One paragraph.\n\nAnother one."
    assert chunk_text(short) == ["One paragraph.\n\nAnother one."]
    paragraphs = [" ".join(f"w{p}x{i}" for i in range(200)) for p in range(4)]
    chunks = chunk_text("\n\n".join(paragraphs))
    assert len(chunks) == 2  # 2 x 200 tokens fit in 512, the third does not
    tail = " ".join(paragraphs[1].split()[-OVERLAP_TOKENS:])
    assert chunks[1].startswith(tail + "\n\n" + paragraphs[2][:10])  # the overlap: the previous chunk's last tokens
    huge = " ".join(f"t{i}" for i in range(CHUNK_TOKENS * 2 + 10))
    pieces = chunk_text(huge)
    assert len(pieces) == 3 and count_tokens(pieces[0]) == CHUNK_TOKENS


@aio
async def test_concurrent_ingests_of_one_document_leave_one_row(platform):
    app, url, owner, _, (project, _) = platform
    async with client(url) as api:
        await asyncio.gather(
            *(
                api.ingest(
                    RagIngest(project_id=project, user_id=owner, documents=[doc("acme/a:README.md", f"{BILLING} v{n}")])
                )
                for n in range(4)
            )
        )
    assert len(app.store.rag_documents(str(project))) == 1
