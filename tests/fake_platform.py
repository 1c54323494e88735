"""The platform API in memory, for the tasks' plan tests: the ``PlatformClient`` methods that
server_sync, github_sync and rag_summarizer call, over records kept here, answering as the real
client does (its errors included), so that a plan is applied with the task's own code."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from actors.adapters.platform.client import PlatformAPIError, PlatformUnavailable
from contracts.platform import (
    Project,
    ProjectCreate,
    ProjectUpdate,
    RagIngest,
    RagIngestResult,
    Repository,
    RepositoryCreate,
    RepositoryUpdate,
    Server,
    ServerCreate,
    ServerUpdate,
    User,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def as_read(server: Server) -> Server:
    """The record as the platform answers it: ``provider_id`` read from the labels."""
    return server.model_copy(update={"provider_id": server.labels.get("provider_id")})


class FakePlatform:
    """One platform: its records, what was asked of it, and the faults a test sets.

    Records: ``servers`` (Server by handle), ``projects`` (by id), ``repositories`` (by record id),
    ``users`` (the Telegram ids of its users), ``documents`` (the RAG ingest's: (user, project, scope,
    source_type, source_id) -> (content hash, content)).

    Counters: ``requests`` (every call), ``writes`` (every create, update or ingest it accepted),
    ``creates`` and ``patches`` (the Server writes, in order).

    Faults: ``refuse`` (Server handles and RAG source ids whose writes are refused: 400 for a
    create, 422 otherwise); ``lose_answers`` (Server creates and RAG ingests to commit and then
    answer 504: the answer lost); ``lose_next_repository`` (repository creates to fail with a 503 before they are
    stored: a crash between a project's two writes).
    """

    def __init__(
        self,
        servers: Mapping[str, Server] | None = None,
        *,
        users: Iterable[int] = (),
        refuse: Iterable[str] = (),
        lose_next_repository: int = 0,
    ):
        self.servers: dict[str, Server] = dict(servers or {})
        self.projects: dict[uuid.UUID, Project] = {}
        self.repositories: dict[str, Repository] = {}
        self.users: set[int] = set(users)
        self.documents: dict[tuple, tuple[str, str]] = {}
        self.requests = self.writes = 0
        self.creates: list[ServerCreate] = []
        self.patches: list[tuple[str, dict]] = []
        self.refuse: set[str] = set(refuse)
        self.lose_answers = 0
        self.lose_next_repository = lose_next_repository

    # ---- servers (server_sync) -----------------------------------------------------------------------

    async def create_server(self, server: ServerCreate) -> Server:
        self.requests += 1
        if server.handle in self.servers or server.handle in self.refuse:
            raise PlatformAPIError(400, "POST", "/api/servers/", '{"detail": "exists"}')
        self.writes += 1
        self.creates.append(server)
        self.servers[server.handle] = as_read(Server(created_at=T0, updated_at=T0, **server.model_dump()))
        if self.lose_answers:
            self.lose_answers -= 1
            raise PlatformUnavailable("POST", "/api/servers/", 1, "HTTP 504")
        return self.servers[server.handle]

    async def update_server(self, handle: str, changes: ServerUpdate) -> Server:
        self.requests += 1
        if handle in self.refuse:
            raise PlatformAPIError(422, "PATCH", f"/api/servers/{handle}", '{"detail": "refused"}')
        fields = {name: getattr(changes, name) for name in changes.model_fields_set}
        assert fields, "an update always carries at least one field"
        self.writes += 1
        self.patches.append((handle, changes.changes()))
        if "provider_id" in fields:  # as the platform does: into the labels
            pid = fields.pop("provider_id")
            fields["labels"] = {**fields.get("labels", self.servers[handle].labels), "provider_id": pid}
        self.servers[handle] = as_read(self.servers[handle].model_copy(update=fields))
        return self.servers[handle]

    # ---- projects and repositories (github_sync) ---------------------------------------------------------
    # A project create with a known id returns that project; a repository create is never sent twice.

    async def find_user_by_telegram(self, telegram_id: int) -> User | None:
        self.requests += 1
        if telegram_id in self.users:
            return User(id=1, telegram_id=telegram_id, created_at=T0)
        return None

    async def create_project(self, project: ProjectCreate, *, owner_telegram_id: int) -> Project:
        self.requests += 1
        assert owner_telegram_id in self.users
        if project.id in self.projects:
            return self.projects[project.id]
        self.writes += 1
        created = Project(
            id=project.id or uuid.uuid4(), slug="s", owner_id=1, created_at=T0, **project.model_dump(exclude={"id"})
        )
        self.projects[created.id] = created
        return created

    async def update_project(self, project_id: uuid.UUID, changes: ProjectUpdate) -> Project:
        self.requests += 1
        fields = {name: getattr(changes, name) for name in changes.model_fields_set}
        assert fields
        self.writes += 1
        self.projects[project_id] = self.projects[project_id].model_copy(update=fields)
        return self.projects[project_id]

    async def find_repository_by_provider_id(self, provider_repo_id: int) -> Repository | None:
        self.requests += 1
        return next((r for r in self.repositories.values() if r.provider_repo_id == provider_repo_id), None)

    async def create_repository(self, repository: RepositoryCreate) -> Repository:
        self.requests += 1
        if self.lose_next_repository:
            self.lose_next_repository -= 1
            raise PlatformUnavailable("POST", "/api/repositories/", 1, "HTTP 503")
        assert repository.project_id in self.projects, "a repository is created under an existing project"
        self.writes += 1
        record = Repository(id=f"repo-{len(self.repositories) + 1:08x}", created_at=T0, **repository.model_dump())
        self.repositories[record.id] = record
        return record

    async def update_repository(self, record_id: str, changes: RepositoryUpdate) -> Repository:
        self.requests += 1
        fields = {name: getattr(changes, name) for name in changes.model_fields_set}
        assert fields
        self.writes += 1
        self.repositories[record_id] = self.repositories[record_id].model_copy(update=fields)
        return self.repositories[record_id]

    # ---- the RAG ingest (rag_summarizer) -------------------------------------------------------------------
    # Documents are keyed as the platform keys them; an unchanged hash is skipped.

    async def ingest(self, request: RagIngest) -> RagIngestResult:
        self.requests += 1
        indexed = skipped = 0
        for doc in request.documents:
            if doc.source_id in self.refuse:
                raise PlatformAPIError(422, "POST", "/api/rag/ingest", '{"detail": "refused"}')
            key = (request.user_id, request.project_id, doc.scope.value, doc.source_type, doc.source_id)
            if key in self.documents and self.documents[key][0] == doc.content_hash:
                skipped += 1
                continue
            self.documents[key] = (doc.content_hash, doc.content)
            indexed += 1
        self.writes += 1
        if self.lose_answers:
            self.lose_answers -= 1
            raise PlatformUnavailable("POST", "/api/rag/ingest", 1, "HTTP 504")
        return RagIngestResult(
            documents_received=len(request.documents), documents_indexed=indexed, documents_skipped=skipped
        )

    def searchable(self, project_id: uuid.UUID) -> dict[str, str]:
        """source_id -> content of the project's documents that have content (chunks)."""
        return {key[4]: content for key, (_, content) in self.documents.items() if key[1] == project_id and content}
