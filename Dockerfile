# syntax=docker/dockerfile:1
# The function's image: a static binary and one ONNX file on `scratch`, run as a non-root
# user. `docker build -t iris-function .` (or `podman build`); deployment: docs/deploy.md.
# tests/container/run.sh builds this file's last stage from a host-built binary and runs
# it read-only as 65532, the way the Knative manifests do.

# ---- build: the static binaries (profile dist, LTO), then the model the image serves ----
# The toolchain the workspace is built and tested with (rust-version in Cargo.toml is the
# minimum). Debian's glibc ships the static libc.a that `crt-static` links against.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# crt-static: a binary with no dynamic loader or libc to find, so it runs on `scratch`.
# relocation-model=static: a fixed-address (non-PIE) executable, as Go links by default.
# A PIE must patch its 45,000 pointers in tables and vtables at every start, writing
# 0.6 MB of private pages and reading 1.1 MB of relocations; without it the function
# starts ~1.5 ms sooner and holds ~1.5 MB less (BENCHMARKS.md). The cost: the binary's
# own code is not at a random address (stack, heap and mappings still are).
# The explicit --target keeps RUSTFLAGS off build scripts and proc-macros (they must
# stay dynamic to load into the host compiler). The cache mounts only speed up rebuilds;
# the binaries are copied out of them within the same step. `strip` drops whatever
# symbol table the release profile leaves (a quarter of the binary when it keeps them);
# panics still name their source location, only backtraces lose function names.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    RUSTFLAGS='-C target-feature=+crt-static -C relocation-model=static' \
    cargo build --profile dist --locked --target x86_64-unknown-linux-gnu -p function -p converter \
 && mkdir -p /out \
 && cp target/x86_64-unknown-linux-gnu/dist/function target/x86_64-unknown-linux-gnu/dist/converter /out/ \
 && strip /out/function
# The converter is deterministic (same seed, same bytes): the file it writes here must be
# the committed models/iris-forest.onnx, which is also the model compiled into the binary.
# If they differ the image would serve a model nobody reviewed, so the build stops.
RUN /out/converter train -o /out/iris-forest.onnx \
 && cmp /out/iris-forest.onnx models/iris-forest.onnx

# ---- runtime: nothing but the binary and the model ----
FROM scratch
LABEL org.opencontainers.image.title="iris-function" \
      org.opencontainers.image.description="ONNX tabular-model inference function for Knative (hyper + tract)" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
COPY --from=build /out/function /function
COPY --from=build /out/iris-forest.onnx /models/iris-forest.onnx
# Serve the file, not the copy compiled into the binary: the image then runs exactly what
# the converter produced in this build, and the model is replaced the same way in every
# environment, by pointing MODEL_PATH elsewhere (a ConfigMap mount, see
# knative/overlays/model-configmap). The bundled copy stays the fallback for a bare
# `function` with no MODEL_PATH.
ENV MODEL_PATH=/models/iris-forest.onnx
# One JSON object per log line, with the Knative revision in each, for log collectors;
# `function` run by hand outside the image logs text unless LOG_FORMAT=json is set.
ENV LOG_FORMAT=json
# The Knative runtime contract's default; Knative and Kubernetes set PORT to the
# manifest's containerPort (8080) anyway.
EXPOSE 8080
# distroless's "nonroot" uid/gid; the manifests pin the same ids with runAsNonRoot.
USER 65532:65532
# Exec form: the binary itself is PID 1, so SIGTERM reaches it with no shell in between
# and it drains before exiting. The kernel delivers to PID 1 only the signals it has a
# handler for; the function installs its SIGTERM handler when it starts serving.
ENTRYPOINT ["/function"]
