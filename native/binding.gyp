{
  "targets": [
    {
      "target_name": "hemnet_native",
      "sources": [
        "src/addon.cc",
        "src/conv.cc",
        "src/matmul.cc",
        "src/elementwise.cc",
        "src/reduce.cc",
        "src/norm.cc",
        "src/resize.cc",
        "src/train.cc",
        "src/hem.cc",
        "src/loss.cc",
        "src/pool.cc"
      ],
      # -fno-trapping-math: nothing reads FP exception flags, so selects over products
      # (ReLU/PReLU and their gradients, max/min with NaN checks) may be if-converted
      # and vectorised; values are unchanged (no reassociation, no contraction).
      "cflags_cc": ["-std=c++17", "-O3", "-ffp-contract=off", "-fno-trapping-math", "-fopenmp", "-fexceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags!": ["-fno-exceptions"],
      "include_dirs": ["/usr/include/x86_64-linux-gnu"],
      "libraries": ["-ldnnl", "-lopenblas", "-fopenmp"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
