# The rollout CLI for CI jobs: a build stage with the Rust toolchain, then a distroless
# final stage (glibc, CA certificates, no shell) running as a non-root user.
#
#   docker build --build-arg GIT_COMMIT=$(git rev-parse HEAD) -t rollout .
#   docker run --rm -v ~/.kube:/home/nonroot/.kube:ro rollout status inference
#
# The image carries the CLI only: `rollout lab` needs a shell and the stand-in images'
# tools on the machine, so run the lab outside a container.

FROM rust:1.90-bookworm AS build
ARG GIT_COMMIT=unknown
ENV ROLLOUT_GIT_COMMIT=${GIT_COMMIT}
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin rollout

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/rollout /usr/local/bin/rollout
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/rollout"]
