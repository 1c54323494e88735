"""A small labelled corpus: twelve services' documentation and questions an engineer would ask,
each labelled with the repository that answers it. Used by the retrieval test (each question
finds its project in the top 3) and by bench/rag_summarizer.py (recall@3 beside BM25).

The questions are worded as people ask them, mostly not with the documents' own words.
``write_corpus(DIR)`` lays it out for ``python -m sandbox --docs DIR``.
"""

from __future__ import annotations

from pathlib import Path

PROJECTS: dict[str, dict[str, str]] = {
    "alert-relay": {
        "README.md": "# alert-relay\n\nForwards monitoring alerts to the on-call engineers through Telegram.\n\n"
        "## How it works\n\nPrometheus Alertmanager posts a webhook; alert-relay formats the message "
        "and sends it to the team's Telegram chat with a bot token. Repeated alerts are grouped.\n",
        "docs/setup.md": "# Setup\n\nCreate a bot with BotFather, put its token in `TELEGRAM_BOT_TOKEN` and the chat "
        "id in `TELEGRAM_CHAT_ID`.\n",
    },
    "ledger": {
        "README.md": "# ledger\n\nThe billing service: issues invoices, takes card payments and handles refunds.\n\n"
        "## Money\n\nAmounts are integers in cents. Every invoice has a currency and a due date; unpaid "
        "invoices are reminded by email after seven days.\n",
        "docs/refunds.md": "# Refunds\n\nA refund reverses a payment in full or in part and credits the customer.\n",
    },
    "gatekeeper": {
        "README.md": "# gatekeeper\n\nSingle sign-on for internal tools: OAuth2 and OpenID Connect login, sessions "
        "and two-factor authentication.\n\n## Passwords\n\nPasswords are hashed with argon2; a reset "
        "link expires after an hour.\n",
    },
    "snapshotter": {
        "README.md": "# snapshotter\n\nNightly backups of the PostgreSQL databases to object storage.\n\n"
        "## Restore\n\nPoint-in-time recovery replays the write-ahead log onto the latest base "
        "backup. Backups are kept thirty days.\n",
    },
    "shipyard": {
        "README.md": "# shipyard\n\nContinuous delivery: builds container images on every merge and rolls them out "
        "to the cluster.\n\n## Rollbacks\n\nA failed health check stops the rollout and returns to the "
        "previous release.\n",
    },
    "postmaster": {
        "README.md": "# postmaster\n\nTransactional email: templates, sending through SMTP, bounces and "
        "unsubscribe handling.\n\n## Deliverability\n\nDKIM signing and SPF records keep messages out "
        "of spam folders.\n",
    },
    "finder": {
        "README.md": "# finder\n\nFull-text search over the product catalogue with Elasticsearch.\n\n## Ranking\n\n"
        "Results are ranked by relevance, typo tolerance and popularity; synonyms are configurable.\n",
    },
    "tracker": {
        "README.md": "# tracker\n\nProduct analytics: collects page views and click events and builds daily "
        "funnels and retention dashboards.\n",
    },
    "geocoder": {
        "README.md": "# geocoder\n\nTurns street addresses into latitude and longitude and back, with a cache of "
        "recent lookups.\n\n## Maps\n\nServes map tiles for the delivery app.\n",
    },
    "scheduler-lite": {
        "README.md": "# scheduler-lite\n\nRuns periodic jobs like cron: every job has a schedule, retries with "
        "backoff, and a lock so it never runs twice at once.\n",
    },
    "imagine": {
        "README.md": "# imagine\n\nImage processing: resizes uploaded photos, makes thumbnails and converts them to "
        "WebP.\n\n## Limits\n\nUploads larger than 20 MB are refused.\n",
    },
    "translator": {
        "README.md": "# translator\n\nLocalisation of the user interface: translation files for twelve languages, "
        "plural rules and date formats per locale.\n",
    },
}

#: (question, the repository that answers it)
QUERIES: list[tuple[str, str]] = [
    ("which of our services sends Telegram alerts?", "alert-relay"),
    ("who pings the on-call engineer in chat when monitoring fires", "alert-relay"),
    ("where do we create invoices for customers", "ledger"),
    ("how do I give a customer their money back", "ledger"),
    ("login with two-factor authentication", "gatekeeper"),
    ("how is a forgotten password reset", "gatekeeper"),
    ("restore the database from last night's backup", "snapshotter"),
    ("deploy a new version to the cluster and roll back a bad release", "shipyard"),
    ("send a welcome email to new users", "postmaster"),
    ("search the catalogue for products", "finder"),
    ("dashboards of user retention", "tracker"),
    ("convert an address to coordinates", "geocoder"),
    ("run a job every night at 3 am", "scheduler-lite"),
    ("make thumbnails of uploaded pictures", "imagine"),
    ("support for French and German in the interface", "translator"),
]


def write_corpus(directory: str | Path) -> Path:
    """``DIR/<repo>/<path>`` for every document; returns DIR."""
    root = Path(directory)
    for repo, files in PROJECTS.items():
        for path, text in files.items():
            target = root / repo / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    return root
