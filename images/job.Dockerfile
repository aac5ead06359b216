# The hyperfleet-job image: the program the catalog's Jobs run (`hyperfleet-job validate`),
# built with the workspace's toolchain, run as a glibc binary on a distroless base as a non-root
# user with nothing else in the image.
#   docker build -f images/job.Dockerfile -t quay.io/hyperfleet/hyperfleet-job:0.1.0 .
FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# --locked: the image builds exactly what Cargo.lock says.
RUN cargo build --release --locked -p hyperfleet-job --bin hyperfleet-job \
 && install -D target/release/hyperfleet-job /out/hyperfleet-job

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/hyperfleet-job /usr/local/bin/hyperfleet-job
# 65532 = nonroot in distroless; Jobs run with a read-only root filesystem and runAsNonRoot.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/hyperfleet-job"]
