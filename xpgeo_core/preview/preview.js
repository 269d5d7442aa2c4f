/* XPGEO preview: camera points and view wedges on a canvas, offline.
 * Every value shown comes from photos and URLs (untrusted): text is written with
 * textContent only, and a photo is loaded only from an http(s) URL. */
(function () {
  "use strict";

  var EARTH_RADIUS = 6378137;
  var DEG = Math.PI / 180;
  var UNKNOWN_HEADING = -999;
  var data = JSON.parse(document.getElementById("xpgeo-data").textContent);
  var fields = data.fields || [];
  var rows = data.rows || [];
  var xyz = data.xyz || [];
  var n = rows.length;
  var col = {};
  fields.forEach(function (name, i) { col[name] = i; });

  // -- projection: local equirectangular metres around the layer's centre ----------
  var lon0 = 0, lat0 = 0, i;
  if (n) {
    var minLon = Infinity, maxLon = -Infinity, minLat = Infinity, maxLat = -Infinity;
    for (i = 0; i < n; i++) {
      minLon = Math.min(minLon, xyz[i][0]); maxLon = Math.max(maxLon, xyz[i][0]);
      minLat = Math.min(minLat, xyz[i][1]); maxLat = Math.max(maxLat, xyz[i][1]);
    }
    lon0 = (minLon + maxLon) / 2;
    lat0 = (minLat + maxLat) / 2;
  }
  var kx = EARTH_RADIUS * DEG * Math.cos(lat0 * DEG);
  var ky = EARTH_RADIUS * DEG;

  function num(value) {
    var v = typeof value === "number" ? value : parseFloat(value);
    return isFinite(v) ? v : NaN;
  }

  var mx = new Float64Array(n), my = new Float64Array(n);
  var heading = new Float64Array(n), hfov = new Float64Array(n), far = new Float64Array(n);
  var typeOf = new Uint16Array(n);
  var typeNames = [], typeIndex = {}, typeCount = [];
  for (i = 0; i < n; i++) {
    var row = rows[i];
    mx[i] = (xyz[i][0] - lon0) * kx;
    my[i] = (xyz[i][1] - lat0) * ky;
    var h = num(row[col.CameraHeading]);
    heading[i] = h === UNKNOWN_HEADING ? NaN : h;
    hfov[i] = num(row[col.HorizontalFieldOfView]);
    far[i] = num(row[col.FarDistance]);
    var t = String(row[col.OrientedImageryType] == null ? data.layer.imageryType || "Unknown"
                                                         : row[col.OrientedImageryType]);
    if (!(t in typeIndex)) { typeIndex[t] = typeNames.length; typeNames.push(t); typeCount.push(0); }
    typeOf[i] = typeIndex[t];
    typeCount[typeIndex[t]]++;
  }

  function colourOf(t) {
    return Object.prototype.hasOwnProperty.call(data.colours, typeNames[t]) ? data.colours[typeNames[t]]
                                                                             : data.fallbackColour;
  }
  function isPanorama(i) { return typeNames[typeOf[i]] === "360" || hfov[i] >= 360; }

  // -- view ---------------------------------------------------------------------------
  var canvas = document.getElementById("map");
  var ctx = canvas.getContext("2d");
  var view = { cx: 0, cy: 0, scale: 1 };  // centre in metres, pixels per metre
  var width = 0, height = 0, ratio = 1, selected = -1, pending = false;

  function toScreenX(x) { return width / 2 + (x - view.cx) * view.scale; }
  function toScreenY(y) { return height / 2 - (y - view.cy) * view.scale; }

  function resize() {
    ratio = window.devicePixelRatio || 1;
    width = canvas.clientWidth || 800;
    height = canvas.clientHeight || 600;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    redraw();
  }

  function fit() {
    var x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (var i = 0; i < n; i++) {
      var r = isFinite(far[i]) ? far[i] : 0;
      x0 = Math.min(x0, mx[i] - r); x1 = Math.max(x1, mx[i] + r);
      y0 = Math.min(y0, my[i] - r); y1 = Math.max(y1, my[i] + r);
    }
    if (!n) { x0 = y0 = -100; x1 = y1 = 100; }
    var spanX = Math.max(x1 - x0, 20), spanY = Math.max(y1 - y0, 20);
    view.cx = (x0 + x1) / 2;
    view.cy = (y0 + y1) / 2;
    view.scale = Math.min((width || 800) / spanX, (height || 600) / spanY) * 0.9;
    redraw();
  }

  function zoom(factor, sx, sy) {
    if (sx === undefined) { sx = width / 2; sy = height / 2; }
    var x = view.cx + (sx - width / 2) / view.scale;
    var y = view.cy - (sy - height / 2) / view.scale;
    view.scale = Math.min(Math.max(view.scale * factor, 1e-6), 1e4);
    view.cx = x - (sx - width / 2) / view.scale;
    view.cy = y + (sy - height / 2) / view.scale;
    redraw();
  }

  function redraw() {
    if (pending) return;
    pending = true;
    (window.requestAnimationFrame || function (f) { return setTimeout(f, 0); })(draw);
  }

  // -- drawing ------------------------------------------------------------------------
  function draw() {
    pending = false;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    var drawn = 0, t, i, sx, sy, r;
    for (t = 0; t < typeNames.length; t++) {
      var colour = colourOf(t);
      ctx.beginPath();
      for (i = 0; i < n; i++) {
        if (typeOf[i] !== t) continue;
        sx = toScreenX(mx[i]); sy = toScreenY(my[i]);
        r = (isFinite(far[i]) ? far[i] : 0) * view.scale;
        if (sx + r < 0 || sy + r < 0 || sx - r > width || sy - r > height || r < 1) continue;
        if (isPanorama(i)) {
          ctx.moveTo(sx + r, sy);
          ctx.arc(sx, sy, r, 0, 2 * Math.PI);
        } else if (isFinite(heading[i])) {
          var half = (isFinite(hfov[i]) ? hfov[i] : 60) / 2;
          ctx.moveTo(sx, sy);
          ctx.arc(sx, sy, r, (heading[i] - half - 90) * DEG, (heading[i] + half - 90) * DEG);
          ctx.closePath();
        }
      }
      ctx.globalAlpha = 0.16; ctx.fillStyle = colour; ctx.fill();
      ctx.globalAlpha = 0.55; ctx.strokeStyle = colour; ctx.lineWidth = 1; ctx.stroke();
      ctx.globalAlpha = 1;
      ctx.beginPath();
      var square = typeNames[t] === "Nadir";
      for (i = 0; i < n; i++) {
        if (typeOf[i] !== t) continue;
        sx = toScreenX(mx[i]); sy = toScreenY(my[i]);
        if (sx < -5 || sy < -5 || sx > width + 5 || sy > height + 5) continue;
        if (square) { ctx.rect(sx - 3.5, sy - 3.5, 7, 7); } else { ctx.moveTo(sx + 4, sy); ctx.arc(sx, sy, 4, 0, 2 * Math.PI); }
        drawn++;
      }
      ctx.fillStyle = colour; ctx.fill();
      ctx.strokeStyle = "#ffffff"; ctx.lineWidth = 1; ctx.stroke();
    }
    if (selected >= 0) {
      ctx.beginPath();
      ctx.arc(toScreenX(mx[selected]), toScreenY(my[selected]), 8, 0, 2 * Math.PI);
      ctx.strokeStyle = "#111111"; ctx.lineWidth = 2.5; ctx.stroke();
    }
    drawScaleBar();
    drawNorthArrow();
    document.body.setAttribute("data-drawn", String(drawn));
  }

  function niceLength(metres) {
    var p = Math.pow(10, Math.floor(Math.log(metres) / Math.LN10));
    var steps = [1, 2, 5, 10];
    for (var k = steps.length - 1; k >= 0; k--) { if (steps[k] * p <= metres) return steps[k] * p; }
    return p;
  }

  function drawScaleBar() {
    var metres = niceLength(120 / view.scale);
    var px = metres * view.scale, x = 14, y = height - 18;
    ctx.fillStyle = "rgba(255,255,255,0.85)";
    ctx.fillRect(x - 6, y - 20, px + 12, 28);
    ctx.strokeStyle = "#1d232a"; ctx.lineWidth = 2;
    ctx.beginPath(); ctx.moveTo(x, y - 6); ctx.lineTo(x, y); ctx.lineTo(x + px, y); ctx.lineTo(x + px, y - 6); ctx.stroke();
    ctx.fillStyle = "#1d232a"; ctx.font = "12px system-ui, sans-serif";
    ctx.fillText(metres >= 1000 ? (metres / 1000) + " km" : metres + " m", x + 2, y - 8);
  }

  function drawNorthArrow() {
    var x = width - 28, y = 20;
    ctx.fillStyle = "#1d232a";
    ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x + 8, y + 22); ctx.lineTo(x, y + 17); ctx.lineTo(x - 8, y + 22);
    ctx.closePath(); ctx.fill();
    ctx.font = "bold 12px system-ui, sans-serif"; ctx.fillText("N", x - 4, y + 36);
  }

  // -- panels (textContent only) ------------------------------------------------------
  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function show(value) { return value === null || value === undefined ? "" : String(value); }

  function select(i) {
    selected = i;
    redraw();
    var table = document.getElementById("attributes");
    var img = document.getElementById("photo");
    var note = document.getElementById("photo-note");
    clear(table);
    if (i < 0) return;
    document.getElementById("hint").textContent = "";
    var extra = [["Longitude", xyz[i][0]], ["Latitude", xyz[i][1]], ["Altitude", xyz[i][2]]];
    fields.map(function (name, k) { return [name, rows[i][k]]; }).concat(extra).forEach(function (pair) {
      var tr = el("tr");
      tr.appendChild(el("th", pair[0]));
      tr.appendChild(el("td", show(pair[1])));
      table.appendChild(tr);
    });
    var url = show(rows[i][col.ImagePath]);
    if (/^https?:\/\//i.test(url)) {
      note.textContent = "Loading the photo from its URL...";
      img.onload = function () { note.textContent = ""; };
      img.onerror = function () {
        note.textContent = "The photo could not be loaded: this browser cannot reach its URL (offline, or a " +
                           "server that only the layer's users can reach).";
      };
      img.src = url;
    } else {
      img.removeAttribute("src");
      note.textContent = "Only http(s) photos are shown here.";
    }
  }

  function fillPanels() {
    var name = show(data.layer.name);
    document.getElementById("title").textContent = name;
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
    var legend = document.getElementById("legend");
    typeNames.forEach(function (name, t) {
      var row = el("div");
      var swatch = el("i");
      swatch.style.background = colourOf(t);
      if (name === "Nadir") swatch.style.borderRadius = "0";
      row.appendChild(swatch);
      row.appendChild(el("span", name + (name === "360" ? " (circle = view range)" : "") + ": " + typeCount[t]));
      legend.appendChild(row);
    });
    if (!n) legend.appendChild(el("div", "No photos in the layer yet."));
  }

  // -- interaction --------------------------------------------------------------------
  function nearest(sx, sy) {
    var best = -1, bestD = 100;  // within 10 px
    for (var i = 0; i < n; i++) {
      var dx = toScreenX(mx[i]) - sx, dy = toScreenY(my[i]) - sy, d = dx * dx + dy * dy;
      if (d < bestD) { bestD = d; best = i; }
    }
    return best;
  }

  var drag = null;
  canvas.addEventListener("pointerdown", function (e) {
    drag = { x: e.clientX, y: e.clientY, cx: view.cx, cy: view.cy, moved: false };
    if (canvas.setPointerCapture) canvas.setPointerCapture(e.pointerId);
  });
  canvas.addEventListener("pointermove", function (e) {
    if (!drag) return;
    var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) { drag.moved = true; canvas.className = "dragging"; }
    view.cx = drag.cx - dx / view.scale;
    view.cy = drag.cy + dy / view.scale;
    redraw();
  });
  canvas.addEventListener("pointerup", function (e) {
    if (drag && !drag.moved) {
      var box = canvas.getBoundingClientRect();
      select(nearest(e.clientX - box.left, e.clientY - box.top));
    }
    drag = null;
    canvas.className = "";
  });
  canvas.addEventListener("wheel", function (e) {
    e.preventDefault();
    var box = canvas.getBoundingClientRect();
    zoom(Math.exp(-e.deltaY * 0.0015), e.clientX - box.left, e.clientY - box.top);
  }, { passive: false });
  canvas.addEventListener("keydown", function (e) {
    var step = 60 / view.scale;
    if (e.key === "+" || e.key === "=") zoom(1.5);
    else if (e.key === "-") zoom(1 / 1.5);
    else if (e.key === "0") fit();
    else if (e.key === "ArrowLeft") { view.cx -= step; redraw(); }
    else if (e.key === "ArrowRight") { view.cx += step; redraw(); }
    else if (e.key === "ArrowUp") { view.cy += step; redraw(); }
    else if (e.key === "ArrowDown") { view.cy -= step; redraw(); }
  });
  document.getElementById("zoom-in").addEventListener("click", function () { zoom(1.5); });
  document.getElementById("zoom-out").addEventListener("click", function () { zoom(1 / 1.5); });
  document.getElementById("fit").addEventListener("click", fit);
  window.addEventListener("resize", resize);

  fillPanels();
  resize();
  fit();
  draw();  // the first frame now, not on the next animation frame (printing, headless capture)
})();
