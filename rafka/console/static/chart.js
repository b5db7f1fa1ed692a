// A small line chart on a <canvas>: a rolling window of points for one or more series.
// No library: the console needs lines, a y axis and a legend, nothing more.
"use strict";

class LineChart {
  // series: [{label, color}]; capacity: points kept per series.
  constructor(canvas, series, capacity = 60, unit = "") {
    this.canvas = canvas;
    this.series = series;
    this.capacity = capacity;
    this.unit = unit;
    this.points = series.map(() => []);
  }

  push(values) {
    values.forEach((value, i) => {
      const line = this.points[i];
      line.push(Number.isFinite(value) ? value : 0);
      if (line.length > this.capacity) line.shift();
    });
    this.draw();
  }

  draw() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || 600;
    const height = canvas.clientHeight || 220;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);

    const left = 56, right = 8, top = 8, bottom = 20;
    const plotW = width - left - right, plotH = height - top - bottom;
    let max = 0;
    for (const line of this.points) for (const v of line) max = Math.max(max, v);
    // Four intervals of a "nice" size (1, 2, 2.5 or 5 times a power of ten).
    max = 4 * niceCeiling(max / 4);

    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = "#667085";
    ctx.strokeStyle = "#e3e6eb";
    ctx.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = top + plotH - (plotH * i) / 4;
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + plotW, y);
      ctx.stroke();
      ctx.textAlign = "right";
      ctx.textBaseline = "middle";
      ctx.fillText(formatShort((max * i) / 4) + this.unit, left - 6, y);
    }
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    ctx.fillText(`last ${this.capacity} samples`, left, top + plotH + 4);

    this.points.forEach((line, i) => {
      if (line.length === 0) return;
      ctx.strokeStyle = this.series[i].color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      line.forEach((v, j) => {
        const x = left + (plotW * (j + this.capacity - line.length)) / (this.capacity - 1);
        const y = top + plotH - (max > 0 ? (plotH * v) / max : 0);
        if (j === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      });
      ctx.stroke();
      // The newest point as a dot, so a single sample is visible too.
      const last = line[line.length - 1];
      ctx.fillStyle = this.series[i].color;
      ctx.beginPath();
      ctx.arc(left + plotW, top + plotH - (max > 0 ? (plotH * last) / max : 0), 3, 0, 2 * Math.PI);
      ctx.fill();
    });
  }

  legend() {
    const box = document.createElement("div");
    box.className = "legend";
    for (const s of this.series) {
      const item = document.createElement("span");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = s.color;
      item.append(swatch, s.label);
      box.append(item);
    }
    return box;
  }
}

function niceCeiling(value) {
  if (value <= 0) return 0.25;
  const power = Math.pow(10, Math.floor(Math.log10(value)));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function formatShort(value) {
  const abs = Math.abs(value);
  if (abs >= 1e9) return (value / 1e9).toFixed(1) + "G";
  if (abs >= 1e6) return (value / 1e6).toFixed(1) + "M";
  if (abs >= 1e3) return (value / 1e3).toFixed(1) + "k";
  return String(Number(value.toFixed(2)));
}

window.LineChart = LineChart;
window.formatShort = formatShort;
