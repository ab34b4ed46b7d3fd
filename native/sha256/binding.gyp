{
  "targets": [
    {
      "target_name": "sha256_state",
      "sources": ["sha256_state.c", "write_batch.c", "trim.c", "file_ops.c"],
      "cflags": ["-O2", "-Wno-deprecated-declarations"]
    }
  ]
}
