# The hyperfleet-api image: built with the workspace's toolchain, run as a glibc binary on a
# distroless base as a non-root user with nothing else in the image.
#   docker build -f images/api.Dockerfile -t quay.io/hyperfleet/hyperfleet-api:0.1.0 .
FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# GET /api/hyperfleet reports it: `--build-arg BUILD_TIME=$(date -u +%FT%TZ)`.
ARG BUILD_TIME=unknown
# --locked: the image builds exactly what Cargo.lock says.
RUN HYPERFLEET_BUILD_TIME="$BUILD_TIME" cargo build --release --locked -p hyperfleet-api --bin hyperfleet-api \
 && install -D target/release/hyperfleet-api /out/hyperfleet-api

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/hyperfleet-api /usr/local/bin/hyperfleet-api
# 65532 = nonroot in distroless; the chart runs with a read-only root filesystem.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/hyperfleet-api"]
