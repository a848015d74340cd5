# The testbed image: one image, every role; the command picks the role (up, broker, ingest, …).
# Sources are TypeScript run by Node's type stripping, so the image holds no build output.
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production TESTBED_DATA_DIR=/data
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY bin ./bin
COPY cli ./cli
COPY lib ./lib
COPY http ./http
COPY devices ./devices
COPY broker ./broker
COPY ingest ./ingest
COPY gateway ./gateway
COPY registry ./registry
COPY simulators ./simulators
COPY monitor ./monitor
COPY console ./console
COPY dashboards ./dashboards
RUN mkdir -p /data && chown node:node /data && ln -s /app/bin/testbed.js /usr/local/bin/testbed
USER node
VOLUME ["/data"]
ENTRYPOINT ["node", "/app/bin/testbed.js"]
CMD ["up"]
