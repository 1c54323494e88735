"""The platform stand-in's routes for the RAG store."""
from __future__ import annotations

from contracts.platform import (
    ChunkSearch,
    DocumentUpsert,
    ProjectDocument,
    ProjectSummary,
    SearchHit,
    SummaryUpsert,
)
from fastapi import APIRouter
from fastapi.responses import Response

from sandbox.platform.responses import json_response as _json

# The store, its schema and sample data live in their own modules; their names are re-exported
# here so ``from sandbox.platform.api import ...`` keeps working for every caller.
from sandbox.platform.schema import (  # noqa: F401
    BOOL_COLUMNS,
    INCIDENT_COLUMNS,
    JSON_COLUMNS,
    PROJECT_COLUMNS,
    SCHEMA,
    SERVER_COLUMNS,
    timestamp,
)
from sandbox.platform.store import (  # noqa: F401
    Conflict,
    NotFound,
    PlatformStore,
    sample_projects,
    sample_servers,
)


def add_rag_routes(r: APIRouter, store: PlatformStore) -> None:
    @r.get("/projects/{project_id}/documents", response_model=list[ProjectDocument])
    async def list_documents(project_id: int, include_chunks: bool = False):
        return _json(store.list_documents(project_id, include_chunks))

    @r.put("/projects/{project_id}/documents", response_model=ProjectDocument,
           responses={201: {"model": ProjectDocument, "description": "a new document"}})
    async def put_document(project_id: int, document: DocumentUpsert):
        row, created = store.put_document(project_id, document)
        return _json(row, 201 if created else 200)

    @r.delete("/projects/{project_id}/documents", status_code=204)
    async def delete_document(project_id: int, path: str):
        store.delete_document(project_id, path)
        return Response(status_code=204)

    @r.get("/projects/{project_id}/summary", response_model=ProjectSummary | None,
           description="null when the project has no summary yet")
    async def get_summary(project_id: int):
        return _json(store.get_summary(project_id))

    @r.put("/projects/{project_id}/summary", response_model=ProjectSummary)
    async def put_summary(project_id: int, summary: SummaryUpsert):
        return _json(store.put_summary(project_id, summary))

    @r.post("/search/chunks", response_model=list[SearchHit],
            description="the k chunks nearest to the vector (cosine), among those of its model and dimension")
    async def search_chunks(query: ChunkSearch):
        return _json(store.search_chunks(query))
