{
  "target_defaults": {
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
    "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
    "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-fvisibility=hidden", "-fno-math-errno"],
    "cflags": ["-fPIC"],
    "ldflags": ["-pthread"],
    "conditions": [
      ["target_arch=='arm64'", {
        "cflags_cc": ["-ffp-contract=off"]
      }],
      ["OS=='mac'", {
        "xcode_settings": {
          "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
          "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
          "MACOSX_DEPLOYMENT_TARGET": "11.0",
          "OTHER_CPLUSPLUSFLAGS": ["-O3", "-fvisibility=hidden", "-fno-math-errno", "-ffp-contract=off"]
        }
      }]
    ]
  },
  "targets": [
    { "target_name": "splade_core", "type": "static_library", "sources": ["<!@(node scripts/list-sources.cjs core)"] },
    { "target_name": "splade", "dependencies": ["splade_core"], "sources": ["<!@(node scripts/list-sources.cjs binding)"] },
    { "target_name": "splade_check", "dependencies": ["splade_core"], "sources": ["<!@(node scripts/list-sources.cjs check)"] }
  ]
}
