/* XPGEO preview: the layer's cameras and what each one sees, on a Leaflet map.
 * The shapes were computed by xpgeo_core/preview/footprint.py; this script draws them and,
 * on a click, lists the photos whose view covers the spot, best first (the same score).
 * Every value shown comes from photos and URLs (untrusted): text is written with
 * textContent only, and a photo is loaded only from an http(s) URL or a file beside the page. */
(function () {
  "use strict";

  var K = 6378137 * Math.PI / 180;  // metres per degree of latitude on the sphere footprint.py uses
  var KIND_FOOTPRINT = 0, KIND_CONE = 1, KIND_CIRCLE = 2;
  var data = JSON.parse(document.getElementById("xpgeo-data").textContent);
  var fields = data.fields || [];
  var rows = data.rows || [];
  var xyz = data.xyz || [];
  var views = data.views || [];
  var photos = data.photos || [];
  var n = rows.length;
  var col = {};
  fields.forEach(function (name, i) { col[name] = i; });

  function show(value) { return value === null || value === undefined ? "" : String(value); }
  function typeOf(i) {
    var t = rows[i][col.OrientedImageryType];
    return show(t === null || t === undefined ? data.layer.imageryType || "Unknown" : t);
  }
  function colourOf(type) {
    return Object.prototype.hasOwnProperty.call(data.colours, type) ? data.colours[type] : data.fallbackColour;
  }
  function latLng(i, east, north) {  // footprint.to_lonlat
    var lon0 = xyz[i][0], lat0 = xyz[i][1];
    return [lat0 + north / K, lon0 + east / (K * Math.cos(lat0 * Math.PI / 180))];
  }
  function metres(i, lat, lon) {  // footprint.to_metres: (east, north) of a spot from camera i
    var lon0 = xyz[i][0], lat0 = xyz[i][1];
    return [(lon - lon0) * K * Math.cos(lat0 * Math.PI / 180), (lat - lat0) * K];
  }
  function ringOf(i) {
    var flat = views[i][5], out = [];
    for (var k = 0; k + 1 < flat.length; k += 2) out.push(latLng(i, flat[k], flat[k + 1]));
    return out;
  }
  function contains(flat, x, y) {  // footprint.contains (even-odd rule)
    var inside = false, m = flat.length / 2;
    for (var a = 0, b = m - 1; a < m; b = a++) {
      var xi = flat[2 * a], yi = flat[2 * a + 1], xj = flat[2 * b], yj = flat[2 * b + 1];
      if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }
  function score(i, e, nn) {  // footprint.View.score
    var v = views[i];
    return Math.sqrt((e - v[1]) * (e - v[1]) + (nn - v[2]) * (nn - v[2])) / Math.max(v[3], 1e-9) +
           Math.sqrt(e * e + nn * nn) / Math.max(v[4], 1e-9);
  }

  // -- the map ------------------------------------------------------------------------
  var map = L.map("map", { preferCanvas: true, zoomSnap: 0.25, maxZoom: 22, boxZoom: true });
  map.attributionControl.setPrefix("Leaflet");
  var basemap = L.tileLayer(data.basemap.url, {
    maxZoom: 22, maxNativeZoom: data.basemap.maxNativeZoom,
    attribution: data.basemap.attribution, referrerPolicy: "strict-origin-when-cross-origin"
  });
  var none = L.layerGroup();
  basemap.addTo(map);
  document.body.setAttribute("data-basemap", "loading");
  basemap.on("tileload", function () { document.body.setAttribute("data-basemap", "online"); });
  basemap.on("tileerror", function () {  // offline: the failed tiles stay hidden, the background plain
    if (document.body.getAttribute("data-basemap") !== "online") document.body.setAttribute("data-basemap", "offline");
  });
  var baseLayers = {};
  baseLayers[data.basemap.name] = basemap;
  baseLayers["No basemap"] = none;
  L.control.layers(baseLayers, null, { position: "topright" }).addTo(map);
  L.control.scale({ imperial: false }).addTo(map);

  var renderer = L.canvas({ padding: 0.3 });
  var viewLayer = L.featureGroup().addTo(map);
  var cameraLayer = L.featureGroup().addTo(map);
  var drawn = 0, shapes = 0, bounds = L.latLngBounds([]);
  for (var i = 0; i < n; i++) {
    if (!isFinite(xyz[i][0]) || !isFinite(xyz[i][1])) continue;
    var colour = colourOf(typeOf(i)), v = views[i];
    var style = { renderer: renderer, color: colour, weight: 1, opacity: 0.7, fillColor: colour, fillOpacity: 0.12,
                  interactive: false };
    bounds.extend([xyz[i][1], xyz[i][0]]);
    if (v) {
      if (v[0] === KIND_CIRCLE) {
        L.circle(latLng(i, v[1], v[2]), L.extend({ radius: v[3] }, style)).addTo(viewLayer);
        bounds.extend(latLng(i, v[1] - v[3], v[2] - v[3])).extend(latLng(i, v[1] + v[3], v[2] + v[3]));
      } else {
        var ring = ringOf(i);
        L.polygon(ring, style).addTo(viewLayer);
        ring.forEach(function (point) { bounds.extend(point); });
      }
      shapes++;
    }
    var marker = L.circleMarker([xyz[i][1], xyz[i][0]], {
      renderer: renderer, radius: 4.5, color: "#ffffff", weight: 1.2, fillColor: colour, fillOpacity: 1,
      bubblingMouseEvents: false  // a click on a camera selects it; it does not list the spot
    }).addTo(cameraLayer);
    marker.on("click", (function (k) { return function () { select(k); }; })(i));
    drawn++;
  }
  var selectedShape = null, spotMarker = null, selected = -1;

  function fit() {
    if (bounds.isValid()) map.fitBounds(bounds, { padding: [56, 56], maxZoom: 20 });  // clear of the controls
    else map.setView([0, 0], 2);
  }

  // -- panels (textContent only) ------------------------------------------------------
  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function allowedSource(src) {  // http(s), file:, or a path relative to the page (no scheme, no //)
    return /^(https?|file):/i.test(src) || (src !== "" && !/^[a-z][a-z0-9+.-]*:/i.test(src) && !/^[\/\\]{2}/.test(src));
  }

  function select(i) {
    selected = i;
    var table = document.getElementById("attributes");
    var img = document.getElementById("photo");
    var note = document.getElementById("photo-note");
    clear(table);
    if (selectedShape) { map.removeLayer(selectedShape); selectedShape = null; }
    Array.prototype.forEach.call(document.querySelectorAll("#here-list li"), function (li) {
      li.className = li.getAttribute("data-index") === String(i) ? "current" : "";
    });
    if (i < 0) { img.removeAttribute("src"); note.textContent = ""; return; }
    var v = views[i], outline = { color: "#111111", weight: 2.5, fill: false, interactive: false };
    if (v) {
      selectedShape = (v[0] === KIND_CIRCLE ? L.circle(latLng(i, v[1], v[2]), L.extend({ radius: v[3] }, outline))
                                            : L.polygon(ringOf(i), outline)).addTo(map);
    }
    document.getElementById("hint").textContent = show(rows[i][col.Name]);
    var extra = [["Longitude", xyz[i][0]], ["Latitude", xyz[i][1]], ["Altitude", xyz[i][2]]];
    fields.map(function (name, k) { return [name, rows[i][k]]; }).concat(extra).forEach(function (pair) {
      var tr = el("tr");
      tr.appendChild(el("th", pair[0]));
      tr.appendChild(el("td", show(pair[1])));
      table.appendChild(tr);
    });
    var src = show(photos[i]);
    document.body.setAttribute("data-selected", show(rows[i][col.OBJECTID]));
    if (src && allowedSource(src)) {
      note.textContent = "Loading the photo...";
      img.onload = function () {
        var path = show(rows[i][col.ImagePath]);
        note.textContent = (src === path ? "" : "A copy kept beside this page of ") + path;
        document.body.setAttribute("data-photo", "loaded");
      };
      img.onerror = function () {
        document.body.setAttribute("data-photo", "failed");
        note.textContent = "The photo could not be loaded: this browser cannot reach " + show(rows[i][col.ImagePath]) +
                           " (offline, or a server that only the layer's users can reach).";
      };
      document.body.setAttribute("data-photo", "loading");
      img.src = src;
    } else {
      img.removeAttribute("src");
      note.textContent = "This photo's path cannot be shown here: " + show(rows[i][col.ImagePath]);
    }
  }

  function photosAt(lat, lon) {
    var hits = [];
    for (var i = 0; i < n; i++) {
      var v = views[i];
      if (!v || !isFinite(xyz[i][0])) continue;
      var m = metres(i, lat, lon), inside;
      if (v[0] === KIND_CIRCLE) inside = Math.sqrt((m[0] - v[1]) * (m[0] - v[1]) + (m[1] - v[2]) * (m[1] - v[2])) <= v[3];
      else inside = contains(v[5], m[0], m[1]);
      if (inside) hits.push([score(i, m[0], m[1]), i, Math.sqrt(m[0] * m[0] + m[1] * m[1])]);
    }
    hits.sort(function (a, b) { return a[0] - b[0] || a[1] - b[1]; });
    return hits;
  }

  function listSpot(lat, lon) {
    var hits = photosAt(lat, lon);
    if (spotMarker) map.removeLayer(spotMarker);
    spotMarker = L.circleMarker([lat, lon], { radius: 6, color: "#d62728", weight: 2.5, fill: false,
                                              interactive: false }).addTo(map);
    var list = document.getElementById("here-list");
    clear(list);
    document.getElementById("here-count").textContent = String(hits.length);
    document.getElementById("here-hint").textContent = hits.length ? "" :
      "No photo's view covers this spot. Click inside a coloured shape.";
    hits.forEach(function (hit) {
      var i = hit[1], li = el("li"), button = el("button");
      button.type = "button";
      button.appendChild(el("span", show(rows[i][col.Name]) + " "));
      button.appendChild(el("span", typeOf(i) + ", camera " + Math.round(hit[2]) + " m away", "meta"));
      button.addEventListener("click", function () { select(i); });
      li.setAttribute("data-index", String(i));
      li.setAttribute("data-objectid", show(rows[i][col.OBJECTID]));
      li.appendChild(button);
      list.appendChild(li);
    });
    select(hits.length ? hits[0][1] : -1);
  }
  map.on("click", function (e) { listSpot(e.latlng.lat, e.latlng.lng); });

  function fillPanels() {
    document.getElementById("title").textContent = show(data.layer.name);
    var failures = data.failures || [];
    document.getElementById("summary").textContent = n + " photo(s)" +
      (failures.length ? ", " + failures.length + " failed in the last append" : "") +
      " \u00b7 generated " + show(data.layer.generated) + " by " + show(data.layer.generator);
    document.getElementById("failure-count").textContent = String(failures.length);
    document.getElementById("no-failures").textContent = failures.length ? "" : "None.";
    var list = document.getElementById("failure-list");
    failures.forEach(function (f) {
      var li = el("li");
      li.appendChild(el("span", (f.line ? "line " + f.line + ": " : "") + show(f.url)));
      li.appendChild(el("span", show(f.reason), "reason"));
      list.appendChild(li);
    });
  }

  var Legend = L.Control.extend({
    options: { position: "bottomright" },
    onAdd: function () {
      var box = el("div", undefined, "legend"), counts = {}, order = [];
      for (var i = 0; i < n; i++) {
        var t = typeOf(i);
        if (!(t in counts)) { counts[t] = 0; order.push(t); }
        counts[t]++;
      }
      order.forEach(function (t) {
        var row = el("div"), swatch = el("i");
        swatch.style.borderColor = colourOf(t);
        swatch.style.background = colourOf(t) + "33";
        if (t === "360") swatch.style.borderRadius = "50%";
        row.appendChild(swatch);
        row.appendChild(el("span", t + ": " + counts[t]));
        box.appendChild(row);
      });
      box.appendChild(el("div", n ? "Shapes: what each camera sees on the ground (nadir/oblique: the photo's " +
        "footprint; horizontal: view cone; 360: circle), to its far distance." : "No photos in the layer yet.",
        "note"));
      L.DomEvent.disableClickPropagation(box);
      return box;
    }
  });
  new Legend().addTo(map);

  fillPanels();
  fit();
  document.body.setAttribute("data-drawn", String(drawn));
  document.body.setAttribute("data-views", String(shapes));
  window.xpgeoMap = map;  // for the browser console (and the tests): the Leaflet map
  document.body.setAttribute("data-ready", "1");
})();
