"""Model access: the async generator client, the embedded CPU model server and the embedders."""
