{
  "targets": [
    {
      "target_name": "statbatch",
      "sources": ["statbatch.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"]
    }
  ]
}
