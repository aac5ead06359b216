# The hyperfleet-operator image: built with the workspace's toolchain, run as a glibc binary on a
# distroless base as a non-root user with nothing else in the image.
#   docker build -f images/operator.Dockerfile -t quay.io/hyperfleet/hyperfleet-operator:0.1.0 .
FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# --locked: the image builds exactly what Cargo.lock says.
RUN cargo build --release --locked -p hyperfleet-operator --bin hyperfleet-operator \
 && install -D target/release/hyperfleet-operator /out/hyperfleet-operator

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/hyperfleet-operator /usr/local/bin/hyperfleet-operator
# 65532 = nonroot in distroless; the chart runs with a read-only root filesystem.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/hyperfleet-operator"]
