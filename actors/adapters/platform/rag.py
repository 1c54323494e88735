"""The platform client's methods for the RAG store: documents, search, summaries."""

from __future__ import annotations

from contracts.platform import (
    ChunkSearch,
    DocumentUpsert,
    ProjectDocument,
    ProjectSummary,
    SearchHit,
    SummaryUpsert,
)

from actors.adapters.platform.base import BaseClient, Listing


class RagAPI(BaseClient):

    async def list_documents(self, project_id: int, *, include_chunks: bool = False) -> Listing[ProjectDocument]:
        response = await self._request("GET", f"/api/projects/{int(project_id)}/documents",
                                       params={"include_chunks": include_chunks or None})
        return self._many(response, ProjectDocument)

    async def put_document(self, project_id: int, document: DocumentUpsert) -> ProjectDocument:
        response = await self._request("PUT", f"/api/projects/{int(project_id)}/documents",
                                       body=document.model_dump(mode="json"))
        return self._one(response, ProjectDocument)

    async def delete_document(self, project_id: int, path: str) -> None:
        await self._request("DELETE", f"/api/projects/{int(project_id)}/documents", params={"path": path})

    async def search_chunks(self, query: ChunkSearch) -> Listing[SearchHit]:
        """The chunks nearest to ``query.vector``, best first (of the query's model only)."""
        return self._many(await self._request("POST", "/api/search/chunks", body=query.model_dump(mode="json")),
                          SearchHit)

    async def get_summary(self, project_id: int) -> ProjectSummary | None:
        """The project's summary, or None if it has none yet (an unknown project is a 404)."""
        response = await self._request("GET", f"/api/projects/{int(project_id)}/summary")
        return None if self._body(response) is None else self._one(response, ProjectSummary)

    async def put_summary(self, project_id: int, summary: SummaryUpsert) -> ProjectSummary:
        response = await self._request("PUT", f"/api/projects/{int(project_id)}/summary",
                                       body=summary.model_dump(mode="json"))
        return self._one(response, ProjectSummary)


