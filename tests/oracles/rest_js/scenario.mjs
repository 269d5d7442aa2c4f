// arcgis-rest-js 4.10.2 against the portal emulator: one scenario per run.
//
// Run by tests/test_oracle_rest_js.py: `node scenario.mjs <scenario>` with a JSON object on stdin
// (`portal`, `modules` = the folder holding node_modules, and what the scenario needs); prints one JSON
// object with what the client saw. fetch is wrapped first: any host but 127.0.0.1 is refused, so no
// request leaves the machine. TLS is verified (NODE_EXTRA_CA_CERTS names the test CA).
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const realFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
  const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
  if (url.hostname !== "127.0.0.1") {
    return Promise.reject(new Error(`the oracle may only talk to 127.0.0.1, not ${url.hostname}`));
  }
  return realFetch(input, init);
};

const config = JSON.parse(await new Promise((resolve) => {
  let text = "";
  process.stdin.on("data", (chunk) => (text += chunk));
  process.stdin.on("end", () => resolve(text));
}));
const require = createRequire(pathToFileURL(`${config.modules}/package.json`));
const load = (name) => import(pathToFileURL(require.resolve(name)).href);
const request = await load("@esri/arcgis-rest-request");
const portalApi = await load("@esri/arcgis-rest-portal");
const features = await load("@esri/arcgis-rest-feature-service");
const portal = `${config.portal}/sharing/rest`;

/** Runs each step in turn; a failing step is recorded with the client's error and the rest go on. */
async function steps(list) {
  const out = [];
  for (const [name, run] of list) {
    try {
      out.push({ step: name, ok: true, result: await run() });
    } catch (error) {
      out.push({ step: name, ok: false, error: `${error.name}: ${error.message}`, code: error.code ?? null });
    }
  }
  return out;
}

function signIn() {
  return request.ArcGISIdentityManager.signIn({ username: config.username, password: config.password, portal });
}

/** The 19 steps of the reference scenario (esri-clients.md §3), from sign-in to an API key. */
async function publish() {
  let session, created, serviceUrl;
  const name = config.name;
  const list = [
    ["signIn", async () => { session = await signIn(); return { username: session.username, expires: +session.tokenExpires }; }],
    ["getSelf", async () => { const self = await portalApi.getSelf({ authentication: session }); return { id: self.id }; }],
    ["getUser", async () => { const user = await session.getUser(); return { username: user.username, orgId: user.orgId }; }],
    ["isServiceNameAvailable", async () => portalApi.isServiceNameAvailable(name, "Feature Service", session)],
    ["createFeatureService", async () => {
      created = await features.createFeatureService({
        item: { name, capabilities: "Create,Delete,Query,Update,Editing", spatialReference: { wkid: 4326 },
                maxRecordCount: 2000, hasStaticData: false },
        authentication: session });
      serviceUrl = created.serviceurl;
      return { success: created.success, serviceurl: created.serviceurl, itemId: created.serviceItemId };
    }],
    ["getItem", async () => { const item = await portalApi.getItem(created.serviceItemId, { authentication: session }); return { id: item.id, type: item.type, url: item.url }; }],
    ["addToServiceDefinition", async () => features.addToServiceDefinition(serviceUrl, { authentication: session, layers: [config.layer] })],
    ["updateServiceDefinition", async () => features.updateServiceDefinition(`${serviceUrl}/0`, { authentication: session, updateDefinition: config.update })],
    ["getLayer", async () => { const layer = await features.getLayer({ url: `${serviceUrl}/0`, authentication: session }); return { type: layer.type, fields: layer.fields.map((f) => f.name), orientedImageryInfo: layer.orientedImageryInfo ?? null }; }],
    ["updateItem", async () => portalApi.updateItem({ item: { id: created.serviceItemId, typeKeywords: config.keywords }, authentication: session })],
    ["setItemAccess", async () => portalApi.setItemAccess({ id: created.serviceItemId, access: "org", authentication: session })],
    ["shareItemWithGroup", async () => portalApi.shareItemWithGroup({ id: created.serviceItemId, groupId: config.groupId, authentication: session })],
    ["searchItems", async () => {
      const found = await portalApi.searchItems({ q: `${config.searchText} AND group:${config.groupId}`, authentication: session });
      return { total: found.total, ids: found.results.map((i) => i.id) };
    }],
    ["addFeatures", async () => features.addFeatures({ url: `${serviceUrl}/0`, features: config.features.slice(0, 1), authentication: session })],
    ["applyEdits", async () => features.applyEdits({ url: `${serviceUrl}/0`, adds: config.features.slice(1), authentication: session })],
    ["queryCount", async () => features.queryFeatures({ url: `${serviceUrl}/0`, where: "1=1", returnCountOnly: true, authentication: session })],
    ["queryNear", async () => {
      const answer = await features.queryFeatures({
        url: `${serviceUrl}/0`, geometry: config.near.geometry, geometryType: "esriGeometryPoint",
        spatialRel: "esriSpatialRelIntersects", distance: config.near.distance, units: "esriSRUnit_Meter",
        outSR: 3857, outFields: "*", authentication: session });
      return { spatialReference: answer.spatialReference, features: answer.features };
    }],
    ["getItemData", async () => portalApi.getItemData(created.serviceItemId, { authentication: session })],
    ["apiKey", async () => {
      const key = request.ApiKeyManager.fromKey({ key: config.apiKey, portal });
      const self = await portalApi.getSelf({ authentication: key, portal });
      const count = await features.queryFeatures({ url: `${serviceUrl}/0`, where: "1=1", returnCountOnly: true, authentication: key });
      return { portalId: self.id, count: count.count };
    }],
  ];
  return { steps: await steps(list) };
}

/** A layer XPGEO made: sign in, read its item, layer and features as a client app would. */
async function openLayer() {
  let session, item;
  const list = [
    ["signIn", async () => { session = await signIn(); return { username: session.username }; }],
    ["getItem", async () => { item = await portalApi.getItem(config.itemId, { authentication: session }); return { id: item.id, type: item.type, typeKeywords: item.typeKeywords, url: item.url }; }],
    ["getLayer", async () => { const layer = await features.getLayer({ url: `${item.url}/0`, authentication: session }); return { type: layer.type, fields: layer.fields.map((f) => f.name), orientedImageryInfo: layer.orientedImageryInfo ?? null, hasZ: layer.hasZ }; }],
    ["query", async () => {
      const answer = await features.queryFeatures({ url: `${item.url}/0`, where: "1=1", outFields: "*", returnZ: true, authentication: session });
      return { features: answer.features };
    }],
    ["queryNear", async () => {
      const answer = await features.queryFeatures({
        url: `${item.url}/0`, geometry: config.near.geometry, geometryType: "esriGeometryPoint",
        distance: config.near.distance, units: "esriSRUnit_Meter", outFields: "ImagePath", returnGeometry: false,
        authentication: session });
      return { paths: answer.features.map((f) => f.attributes.ImagePath) };
    }],
  ];
  return { steps: await steps(list) };
}

const scenarios = { publish, open_layer: openLayer };
const result = await scenarios[process.argv[2]]();
process.stdout.write(JSON.stringify(result) + "\n");
