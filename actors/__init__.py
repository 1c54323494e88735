"""The Dramatiq side: broker and middleware, the task lock, one module per task, adapters."""
