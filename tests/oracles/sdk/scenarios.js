// What the ArcGIS Maps SDK for JavaScript makes of an XPGEO layer, collected in the browser.
//
// The page (rendered by tests/sdk_support.py) holds an import map that resolves @arcgis/core and its
// dependencies to the loopback asset server, and a JSON config naming the scenario. This module only
// collects facts (what loaded, what the SDK's JSON reader made of each property, what a query returns,
// which photo the viewer opened); the Python test compares them with what XPGEO computed.
// Its verdict goes to window.__xpgeo = {done: true, result | error}.
import esriConfig from "@arcgis/core/config.js";

const config = JSON.parse(document.getElementById("xpgeo-config").textContent);

// Every asset from the loopback server; the portal is the emulator (never the arcgis.com default).
esriConfig.assetsPath = new URL("/node_modules/@arcgis/core/assets", location.href).href;
esriConfig.portalUrl = config.portalUrl || new URL("/no-portal", location.href).href;
esriConfig.request.timeout = 30000;

window.__xpgeo = { done: false, clickAt: null, clicked: 0, log: [] };

// The API names of the layer-level oriented imagery properties (OrientedImageryLayer), and the
// web-map JSON key each is written to by toJSON().
export const OI_PROPERTIES = [
  "cameraHeading", "cameraHeight", "cameraPitch", "cameraRoll", "coveragePercent", "demPathPrefix",
  "demPathSuffix", "depthImagePathPrefix", "depthImagePathSuffix", "elevationSource", "farDistance",
  "horizontalFieldOfView", "horizontalMeasurementUnit", "imageGeometryField", "imagePathPrefix",
  "imagePathSuffix", "imageReferenceField", "imageRotation", "maximumDistance", "nearDistance",
  "orientationAccuracy", "orientedImageryType", "referenceIDField", "sequenceOrderField", "timeIntervalUnit",
  "verticalFieldOfView", "verticalMeasurementUnit", "videoPathPrefix", "videoPathSuffix",
];

function describeError(err) {
  if (!err) return null;
  return { name: err.name ?? null, message: String(err.message ?? err), details: plain(err.details ?? null) };
}

function plain(value, depth = 0) {
  if (value == null || typeof value !== "object") return value ?? null;
  if (depth > 4) return "…";
  if (typeof value.toJSON === "function") {
    try { return value.toJSON(); } catch { /* fall through */ }
  }
  if (Array.isArray(value)) return value.map((v) => plain(v, depth + 1));
  const out = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "function") out[k] = plain(v, depth + 1);
  }
  return out;
}

function note(what) {
  window.__xpgeo.log.push(`${Math.round(performance.now())} ms: ${what}`);
}

async function until(test, what, timeoutMs = 120000) {
  const start = performance.now();
  while (!test()) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function fetchJson(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

// -- building the layer the three ways a user of the SDK would ---------------------------------

async function layerFromItem(cfg) {
  const [{ default: Layer }, { default: PortalItem }, { default: Portal }] = await Promise.all([
    import("@arcgis/core/layers/Layer.js"), import("@arcgis/core/portal/PortalItem.js"),
    import("@arcgis/core/portal/Portal.js")]);
  const portalItem = new PortalItem({ id: cfg.itemId, portal: new Portal({ url: cfg.portalUrl }) });
  // The generic factory reads the item (type, typeKeywords, data's layerType) to pick the layer class.
  const layer = await Layer.fromPortalItem({ portalItem });
  return { layer, factory: layer.declaredClass };
}

async function layerFromUrl(cfg) {
  const { default: Layer } = await import("@arcgis/core/layers/Layer.js");
  // The generic factory reads the service JSON and picks the class from the layer's `type`.
  const layer = await Layer.fromArcGISServerUrl({ url: cfg.layerUrl });
  return { layer, factory: layer.declaredClass };
}

async function layerClassFromUrl(cfg) {
  const { default: OrientedImageryLayer } = await import("@arcgis/core/layers/OrientedImageryLayer.js");
  return { layer: new OrientedImageryLayer({ url: cfg.layerUrl }), factory: "esri.layers.OrientedImageryLayer" };
}

// A client-side OrientedImageryLayer from the local backend's files: layer.json's layer definition read
// through the SDK's own service-JSON reader, features.geojson as the source.
async function layerFromLocalFiles(cfg) {
  const [{ default: OrientedImageryLayer }, { default: Graphic }, { default: Point }, { default: Field }] =
    await Promise.all([import("@arcgis/core/layers/OrientedImageryLayer.js"), import("@arcgis/core/Graphic.js"),
                       import("@arcgis/core/geometry/Point.js"), import("@arcgis/core/layers/support/Field.js")]);
  const [layerFile, collection] = await Promise.all([fetchJson(cfg.layerJsonUrl), fetchJson(cfg.featuresUrl)]);
  const definition = layerFile.layer;
  const dateFields = new Set(definition.fields.filter((f) => f.type === "esriFieldTypeDate").map((f) => f.name));
  const parsedDates = {};
  const source = collection.features.map((feature) => {
    const [x, y, z] = feature.geometry.coordinates;
    const attributes = { ...feature.properties };
    for (const name of dateFields) {
      const text = attributes[name];
      // What a browser does with the text: an offset-less time is read in the browser's own zone.
      attributes[name] = text == null ? null : Date.parse(text);
      parsedDates[`${attributes[definition.objectIdField]}:${name}`] = attributes[name];
    }
    return new Graphic({ geometry: new Point({ x, y, z, spatialReference: { wkid: 4326 } }), attributes });
  });
  const layer = new OrientedImageryLayer({
    source, fields: definition.fields.map((f) => Field.fromJSON(f)), objectIdField: definition.objectIdField,
    geometryType: "point", spatialReference: { wkid: 4326 }, hasZ: !!definition.hasZ,
  });
  const typeSeen = definition.type;
  layer.read(definition, { origin: "service" });
  return { layer, factory: "esri.layers.OrientedImageryLayer", extra: { definitionType: typeSeen, parsedDates } };
}

// A GeoJSON file (the local backend's footprints.geojson) read by the SDK's own GeoJSON reader.
async function layerFromGeoJSON(cfg) {
  const { default: GeoJSONLayer } = await import("@arcgis/core/layers/GeoJSONLayer.js");
  return { layer: new GeoJSONLayer({ url: cfg.geojsonUrl }), factory: "esri.layers.GeoJSONLayer" };
}

const BUILDERS = { item: layerFromItem, url: layerFromUrl, urlClass: layerClassFromUrl, local: layerFromLocalFiles,
                   geojson: layerFromGeoJSON };

// -- what the SDK read ------------------------------------------------------------------------

function describeLayer(layer) {
  const props = {};
  for (const name of OI_PROPERTIES) props[name] = plain(layer[name]);
  let written = null;
  let writeError = null;
  try {
    written = layer.toJSON();
  } catch (err) {
    writeError = describeError(err);
  }
  const timeInfo = layer.timeInfo;
  return {
    type: layer.type, declaredClass: layer.declaredClass, loaded: layer.loaded, title: layer.title ?? null,
    sourceJSONType: layer.sourceJSON?.type ?? null, props,
    // What the OrientedImageryViewer's next/previous orders by: sequenceOrderField resolved against the fields.
    effectiveSequenceOrderField: plain(layer.effectiveSequenceOrderField ?? null),
    webMapJSON: written, writeError,
    timeInfo: timeInfo ? { startField: timeInfo.startField ?? null, endField: timeInfo.endField ?? null,
                           fullTimeExtent: plain(timeInfo.fullTimeExtent) } : null,
    fields: (layer.fields ?? []).map((f) => ({ name: f.name, type: f.type })),
    objectIdField: layer.objectIdField ?? null, geometryType: layer.geometryType ?? null, hasZ: layer.hasZ ?? null,
    spatialReference: layer.spatialReference?.wkid ?? null, url: layer.url ?? null, layerId: layer.layerId ?? null,
    portalItemId: layer.portalItem?.id ?? null, operationalLayerType: layer.operationalLayerType ?? null,
  };
}

async function queryAll(layer) {
  const query = layer.createQuery();
  query.where = "1=1";
  query.outFields = ["*"];
  query.returnGeometry = true;
  query.returnZ = true;
  query.orderByFields = [layer.objectIdField];
  const answer = await layer.queryFeatures(query);
  return answer.features.map((g) => ({
    attributes: g.attributes,
    geometry: g.geometry ? { x: g.geometry.x ?? null, y: g.geometry.y ?? null, z: g.geometry.z ?? null,
                             rings: g.geometry.rings ?? null, type: g.geometry.type ?? null,
                             wkid: g.geometry.spatialReference?.wkid ?? null } : null,
  }));
}

// -- the viewer: click a map point, see which photo it opens ----------------------------------

async function clickAndOpen(layer, click) {
  const [{ default: Map }, { default: MapView }, { default: OrientedImageryViewer }, { default: Point }] =
    await Promise.all([import("@arcgis/core/Map.js"), import("@arcgis/core/views/MapView.js"),
                       import("@arcgis/core/widgets/OrientedImageryViewer.js"),
                       import("@arcgis/core/geometry/Point.js")]);
  const map = new Map({ layers: [layer] }); // no basemap: nothing to fetch from Esri's servers
  // The map and the viewer side by side, both on screen (a viewer out of sight does not render).
  const container = document.createElement("div");
  container.className = "view";
  document.body.append(container);
  const view = new MapView({ container, map, center: [click.x, click.y], scale: click.scale ?? 2000,
                             spatialReference: { wkid: 3857 } });
  await view.when();
  note("view ready");
  const layerView = await view.whenLayerView(layer);
  note("layer view created");
  // A client-side OrientedImageryLayer never finishes drawing in a 2D view in this SDK (its 2D adapter
  // asks for a feature service); the viewer does not need the drawing, so only note whether it happened.
  let drawn = true;
  try {
    await until(() => !layerView.updating, "the layer view to draw", click.drawTimeoutMs ?? 60000);
  } catch {
    drawn = false;
  }
  note(`layer view drawn: ${drawn}`);
  const viewerContainer = document.createElement("div");
  viewerContainer.className = "viewer";
  document.body.append(viewerContainer);
  const viewer = new OrientedImageryViewer({ view, layer, container: viewerContainer });
  await viewer.viewModel.when?.();
  await until(() => viewer.viewModel.state !== "loading", "the viewer to be ready");
  note(`viewer ready: ${viewer.viewModel.state}`);
  const point = new Point({ x: click.x, y: click.y, spatialReference: { wkid: 4326 } });
  const screen = view.toScreen(point);
  const box = container.getBoundingClientRect();
  window.__xpgeo.clickAt = [box.left + screen.x, box.top + screen.y];
  await until(() => window.__xpgeo.clicked >= 1, "the driver's click");
  const vm = viewer.viewModel;
  note("clicked");
  const opening = vm.displayMessage?.key ?? null; // the viewer's "click on the map" prompt
  await until(() => vm.currentBestFeature || (vm.displayMessage && vm.displayMessage.key !== opening),
              "the viewer to pick a photo");
  note("picked");
  // The coverage the viewer computed for each candidate photo (createCoveragePolygon, in the view's Web
  // Mercator), in WGS84: what the footprint layer must draw. imageID is the photo's object id.
  const { webMercatorToGeographic } = await import("@arcgis/core/geometry/support/webMercatorUtils.js");
  const coverage = Array.from(vm.coveragePolygons ?? [], (polygon) => {
    const geographic = polygon.spatialReference?.isWebMercator ? webMercatorToGeographic(polygon) : polygon;
    return { imageID: polygon.imageID ?? null, type: polygon.type ?? null,
             rings: geographic.rings.map((ring) => ring.map((p) => [p[0], p[1]])) };
  });
  // "image-loaded" once the photo is on screen; an error state says why not. Every state seen is kept.
  const states = [];
  let loadedSeen = false;
  try {
    await until(() => {
      if (states.at(-1) !== vm.state) states.push(vm.state);
      loadedSeen ||= vm.state === "image-loaded";
      return loadedSeen || /error/.test(vm.state);
    }, "the viewer to load the photo", click.loadTimeoutMs ?? 120000);
  } catch {
    /* reported through states */
  }
  note(`photo: ${vm.state}`);
  const best = vm.currentBestFeature;
  return {
    drawn, state: vm.state, states, loadedSeen, mode: vm.mode, message: plain(vm.displayMessage ?? null), coverage,
    best: best ? plain(best.attributes) : null,
    candidates: Array.from(vm.features ?? [], (f) => f.attributes?.objectId ?? null),
  };
}

async function layerScenario(cfg) {
  note("SDK modules loaded");
  const { layer, factory, extra } = await BUILDERS[cfg.source](cfg);
  let loadError = null;
  try {
    await layer.load();
  } catch (err) {
    loadError = describeError(err);
  }
  const result = { factory, extra: extra ?? null, loadError, layer: describeLayer(layer) };
  if (loadError) return result;
  note("layer loaded");
  result.features = await queryAll(layer);
  note("features queried");
  if (cfg.click) result.viewer = await clickAndOpen(layer, cfg.click);
  return result;
}

// A sign-in dialog means the SDK found no credential it could use: a test has no one to type a
// password, so the run fails at once with that reason instead of waiting.
let signInAsked = null;
const signInPrompt = new Promise((resolve, reject) => { signInAsked = reject; });
signInPrompt.catch(() => {});

function bounded(promise, what, timeoutMs) {
  let timer = null;
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout, signInPrompt]).finally(() => clearTimeout(timer));
}

async function registerToken(cfg) {
  const { default: IdentityManager } = await import("@arcgis/core/identity/IdentityManager.js");
  IdentityManager.on("dialog-create", () => {
    signInAsked(new Error("the SDK asked the user to sign in (it found no usable credential)"));
  });
  if (!cfg.token) return;
  // What an app does after its own sign-in: the portal token is known; the SDK finds its way from there.
  IdentityManager.registerToken({ server: `${cfg.portalUrl}/sharing/rest`, token: cfg.token, userId: cfg.userId,
                                  expires: Date.now() + 3600 * 1000, ssl: cfg.portalUrl.startsWith("https:") });
}

// Each run builds and reads one layer; a run that throws is reported on its own, so one refusal does
// not hide what the other ways of opening the layer give.
try {
  await registerToken(config);
  const runs = {};
  for (const run of config.runs) {
    note(`run ${run.name}`);
    try {
      runs[run.name] = await bounded(layerScenario(run), `run ${run.name}`, run.timeoutMs ?? 240000);
    } catch (err) {
      runs[run.name] = { error: describeError(err), stack: String(err?.stack ?? "").slice(0, 3000) };
    }
  }
  window.__xpgeo = { ...window.__xpgeo, done: true, result: runs };
} catch (err) {
  window.__xpgeo = { ...window.__xpgeo, done: true, error: describeError(err), stack: String(err?.stack ?? "") };
}
