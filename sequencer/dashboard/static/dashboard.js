// The live dashboard: read-only, no build step, nothing loaded from elsewhere.
//
// Every second it polls status.json (the process's status and what subscriptions do not carry);
// on a sequencer it also subscribes, over the node's own WebSocket JSON-RPC (same origin), to
// `miniBlocks` (MegaETH's fields: mini_block_number, mini_block_timestamp in µs, transactions...)
// and `newHeads` and derives the live rates and the interval distribution from
// them. Every buffer is bounded (fixed-size rings), the charts are redrawn at most twice a
// second, and nothing received is kept beyond what is drawn, so the page's memory stays flat
// however long it runs and however fast mini-blocks come.
"use strict";

(() => {
  const POLL_MS = 1000;
  const REDRAW_MS = 500;
  const WINDOW_S = 120; // throughput and mempool history
  const RATE_S = 5; // the rate tiles average this many complete seconds
  const INTERVALS = 1000; // mini-block intervals in the distribution
  const TABLE_BLOCKS = 10;
  const MAX_BACKOFF_MS = 10000;
  const CHART_HEIGHT = 200;

  const numbers = new Intl.NumberFormat("en-US");
  const decimals = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });
  const css = getComputedStyle(document.documentElement);
  const color = (name) => css.getPropertyValue(name).trim();

  // -- DOM helpers ------------------------------------------------------------------------------
  function setField(name, value, text) {
    for (const el of document.querySelectorAll(`[data-field="${name}"]`)) {
      el.dataset.value = value === null || value === undefined ? "" : String(value);
      el.textContent = text !== undefined ? text : format(value);
    }
  }

  function format(value) {
    if (value === null || value === undefined) return "–";
    if (typeof value === "number") return Number.isInteger(value) ? numbers.format(value) : decimals.format(value);
    return String(value);
  }

  function setPill(id, state, text) {
    const el = document.getElementById(id);
    el.dataset.state = state;
    el.textContent = text;
  }

  function cell(row, text, cls) {
    const td = row.insertCell();
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  function fillTable(id, rows, render) {
    const body = document.getElementById(id);
    const fresh = document.createElement("tbody");
    fresh.id = id;
    for (const item of rows) render(fresh.insertRow(), item);
    body.replaceWith(fresh);
  }

  const shortHash = (h) => (h && h.length > 18 ? `${h.slice(0, 10)}…${h.slice(-6)}` : h || "");
  const hex = (q) => parseInt(q, 16);

  function duration(seconds) {
    const s = Math.floor(seconds);
    if (s < 120) return `${s} s`;
    if (s < 7200) return `${Math.floor(s / 60)} min`;
    if (s < 172800) return `${Math.floor(s / 3600)} h`;
    return `${Math.floor(s / 86400)} d`;
  }

  // -- bounded buffers --------------------------------------------------------------------------
  /** Sums per whole second over the last `size` seconds (a ring: nothing grows). */
  class PerSecond {
    constructor(size) {
      this.size = size;
      this.second = new Float64Array(size).fill(-1);
      this.sum = new Float64Array(size);
    }
    slot(s) {
      return ((s % this.size) + this.size) % this.size;
    }
    add(t, value) {
      const s = Math.floor(t);
      const i = this.slot(s);
      if (this.second[i] !== s) {
        this.second[i] = s;
        this.sum[i] = 0;
      }
      this.sum[i] += value;
    }
    at(s) {
      const i = this.slot(s);
      return this.second[i] === s ? this.sum[i] : 0;
    }
    /** [seconds, sums] for the complete seconds of the window, oldest first. */
    series(now, xs, ys) {
      const end = Math.floor(now) - 1;
      for (let k = 0; k < this.size; k++) {
        const s = end - this.size + 1 + k;
        xs[k] = s;
        ys[k] = this.at(s);
      }
    }
    rate(now, span) {
      const end = Math.floor(now) - 1;
      let total = 0;
      for (let s = end - span + 1; s <= end; s++) total += this.at(s);
      return total / span;
    }
  }

  /** The last `size` numbers. */
  class Ring {
    constructor(size) {
      this.values = new Float64Array(size);
      this.count = 0;
      this.next = 0;
    }
    push(v) {
      this.values[this.next] = v;
      this.next = (this.next + 1) % this.values.length;
      this.count = Math.min(this.count + 1, this.values.length);
    }
  }

  /** Parallel columns of at most `size` rows, oldest first (for a few hundred points). */
  class Columns {
    constructor(size, width) {
      this.size = size;
      this.cols = Array.from({ length: width }, () => []);
    }
    push(...row) {
      row.forEach((v, i) => this.cols[i].push(v));
      if (this.cols[0].length > this.size) for (const c of this.cols) c.shift();
    }
  }

  // -- charts -----------------------------------------------------------------------------------
  const charts = [];

  function axis(extra) {
    return {
      stroke: color("--muted"),
      grid: { stroke: color("--line"), width: 1 },
      ticks: { stroke: color("--line"), width: 1 },
      ...extra,
    };
  }

  function chart(id, series, options, data) {
    const el = document.getElementById(id);
    const plot = new uPlot(
      {
        width: Math.max(200, el.clientWidth),
        height: CHART_HEIGHT,
        legend: { live: false },
        cursor: { drag: { x: false, y: false } },
        series: [{}, ...series],
        ...options,
      },
      data,
      el,
    );
    charts.push({ el, plot });
    return plot;
  }

  function resizeCharts() {
    for (const { el, plot } of charts) plot.setSize({ width: Math.max(200, el.clientWidth), height: CHART_HEIGHT });
  }

  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(resizeCharts, 150);
  });

  const clock = (_u, splits) => splits.map((t) => new Date(t * 1000).toLocaleTimeString("en-GB"));
  const SECONDS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600];
  const WHOLE = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];
  const timeAxis = () => axis({ values: clock, space: 70, incrs: SECONDS });
  const line = (label, stroke, extra) => ({ label, stroke, width: 2, points: { show: false }, ...extra });
  const bars = () => (uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.85, 60] }) : undefined);

  // -- the sequencer's view ---------------------------------------------------------------------
  function sequencerView() {
    const miniRate = new PerSecond(WINDOW_S);
    const txRate = new PerSecond(WINDOW_S);
    const intervals = new Ring(INTERVALS);
    const mempool = new Columns(WINDOW_S, 3);
    const live = { head: null, headHash: null, mini: null, miniBlock: null, lastMiniTs: null, received: 0 };
    let intervalMs = 10;

    const xs = new Array(WINDOW_S).fill(0);
    const miniYs = new Array(WINDOW_S).fill(0);
    const txYs = new Array(WINDOW_S).fill(0);
    const throughput = chart(
      "chart-throughput",
      [line("mini-blocks/s", color("--accent"), { scale: "mb" }), line("tx/s", color("--accent2"), { scale: "tx" })],
      {
        scales: { x: { time: true }, mb: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] }, tx: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
        axes: [timeAxis(), axis({ scale: "mb", label: "mini-blocks/s" }), axis({ scale: "tx", side: 1, label: "tx/s", grid: { show: false } })],
      },
      [xs, miniYs, txYs],
    );

    const BINS = 16;
    const binXs = new Array(BINS).fill(0);
    const binYs = new Array(BINS).fill(0);
    const histogram = chart(
      "chart-intervals",
      [{ label: "mini-blocks", stroke: color("--accent"), fill: color("--accent") + "99", paths: bars(), points: { show: false } }],
      {
        scales: { x: { time: false }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
        axes: [axis({ label: "ms between consecutive mini-blocks (last bar: 3 intervals or more)" }), axis()],
      },
      [binXs, binYs],
    );

    const blocksChart = chart(
      "chart-blocks",
      [line("seal ms", color("--accent2"), { points: { show: true, size: 4 } }), line("state root ms", color("--accent"), { points: { show: true, size: 4 } })],
      { scales: { x: { time: false }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } }, axes: [axis({ label: "EVM block", incrs: WHOLE }), axis()] },
      [[], [], []],
    );

    const mempoolChart = chart(
      "chart-mempool",
      [line("ready", color("--accent")), line("queued", color("--accent2"))],
      { scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } }, axes: [timeAxis(), axis()] },
      [[], [], []],
    );

    function onMiniBlock(mb) {
      const now = Date.now() / 1000;
      const txs = mb.transactions.length;
      miniRate.add(now, 1);
      txRate.add(now, txs);
      const number = hex(mb.mini_block_number);
      const ts = hex(mb.mini_block_timestamp) / 1000; // µs -> ms, the sequencer's clock
      if (live.mini !== null && number === live.mini + 1 && live.lastMiniTs !== null) intervals.push(ts - live.lastMiniTs);
      live.mini = number;
      live.lastMiniTs = ts;
      live.miniBlock = hex(mb.block_number);
      live.received += 1;
      document.body.dataset.liveMiniBlocks = String(live.received);
    }

    function onHead(header) {
      live.head = hex(header.number);
      live.headHash = header.hash;
      setField("headBlock", live.head);
      setField("headAge", header.hash, shortHash(header.hash));
    }

    function redraw() {
      const now = Date.now() / 1000;
      miniRate.series(now, xs, miniYs);
      txRate.series(now, xs, txYs);
      throughput.setData([xs, miniYs, txYs]);
      setField("miniBlocksPerSecond", Math.round(miniRate.rate(now, RATE_S) * 10) / 10);
      setField("txsPerSecond", Math.round(txRate.rate(now, RATE_S) * 10) / 10);

      const width = (intervalMs * 3) / (BINS - 1);
      binYs.fill(0);
      for (let k = 0; k < BINS; k++) binXs[k] = Math.round(k * width * 100) / 100;
      for (let i = 0; i < intervals.count; i++) {
        const k = Math.min(BINS - 1, Math.floor(intervals.values[i] / width));
        binYs[k] += 1;
      }
      histogram.setData([binXs, binYs]);
      if (live.mini !== null) setField("headMiniBlock", live.mini);
    }

    function onStatus(view) {
      const s = view.status;
      intervalMs = s.miniBlockIntervalMs || intervalMs;
      setField("headBlock", Math.max(s.headBlock.number, live.head ?? 0));
      if (live.head === null || s.headBlock.number >= live.head) setField("headAge", s.headBlock.hash, shortHash(s.headBlock.hash));
      if (s.headMiniBlock) setField("headMiniBlock", Math.max(s.headMiniBlock.number, live.mini ?? 0));
      setField("openBlock", s.openBlock, s.openBlock === null ? "" : `in open block ${numbers.format(s.openBlock)}`);
      setField("mempoolReady", s.mempool.ready);
      setField("mempoolQueued", s.mempool.queued);
      setField("feedFollowers", view.feed.followers);
      setField("feedMaxLag", view.feed.maxLagMessages);
      setField("includedTxs", s.includedTxs);
      setField("droppedTxs", s.droppedTxs);
      setField("miniBlocks", s.miniBlocks);
      setField("evmBlocks", s.evmBlocks);
      setField("uptime", s.uptimeS, duration(s.uptimeS));
      setField("miniIntervalP50", s.miniBlockIntervalP50Ms, `${decimals.format(s.miniBlockIntervalP50Ms)} ms`);
      setField("miniIntervalP99", s.miniBlockIntervalP99Ms, `${decimals.format(s.miniBlockIntervalP99Ms)} ms`);
      setField("evmIntervalP50", s.evmBlockIntervalP50Ms, decimals.format(s.evmBlockIntervalP50Ms));
      document.getElementById("client").textContent = s.clientVersion;
      document.getElementById("chain").textContent = `chain ${s.chainId}`;
      setPill("health", s.healthy ? "ok" : "bad", s.healthy ? "healthy" : "unhealthy");

      mempool.push(Date.now() / 1000, s.mempool.ready, s.mempool.queued);
      mempoolChart.setData(mempool.cols);
      const blocks = view.blocks;
      blocksChart.setData([blocks.map((b) => b.number), blocks.map((b) => b.sealMs), blocks.map((b) => b.stateRootMs)]);
      fillTable("blocks-body", blocks.slice(-TABLE_BLOCKS).reverse(), (row, b) => {
        cell(row, numbers.format(b.number));
        cell(row, numbers.format(b.txs));
        cell(row, numbers.format(b.miniBlocks));
        cell(row, numbers.format(b.gasUsed));
        cell(row, decimals.format(b.sealMs));
        cell(row, decimals.format(b.stateRootMs));
        cell(row, shortHash(b.hash), "hash");
      });
      fillTable("verifiers-body", view.verifiers, (row, v) => {
        row.dataset.url = v.url;
        cell(row, v.url);
        if (!v.reachable) {
          cell(row, "unreachable", "bad").colSpan = 6;
          row.title = v.error || "";
          return;
        }
        cell(row, v.mode || "");
        cell(row, format(v.height));
        cell(row, format(v.lagBlocks));
        cell(row, format(v.lagMs));
        cell(row, format(v.verifiedTxs));
        cell(row, v.verdict, v.verdict === "ok" ? "ok" : "bad");
      });
      document.getElementById("verifiers-note").textContent = view.verifiers.length
        ? ""
        : "No verifiers configured: list their status URLs in dashboard.verifiers (or --dashboard-verifier URL).";
    }

    function subscribe() {
      let backoff = 1000;
      const open = () => {
        const scheme = location.protocol === "https:" ? "wss://" : "ws://";
        const ws = new WebSocket(scheme + location.host + "/");
        ws.onopen = () => {
          backoff = 1000;
          ws.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_subscribe", params: ["miniBlocks"] }));
          ws.send(JSON.stringify({ jsonrpc: "2.0", id: 2, method: "eth_subscribe", params: ["newHeads"] }));
          setPill("live", "ok", "live");
        };
        ws.onmessage = (event) => {
          const message = JSON.parse(event.data);
          if (message.method !== "eth_subscription") {
            if (message.error) setPill("live", "bad", `subscribe failed: ${message.error.message}`);
            return;
          }
          const result = message.params.result;
          // told apart by shape: a notification may arrive before its subscription's id
          if ("mini_block_number" in result) onMiniBlock(result);
          else if ("stateRoot" in result) onHead(result);
        };
        ws.onclose = () => {
          setPill("live", "connecting", "reconnecting…");
          setTimeout(open, backoff);
          backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        };
      };
      open();
    }

    return { onStatus, redraw, subscribe };
  }

  // -- a verifier's view of itself ----------------------------------------------------------------
  function verifierView() {
    const miniRate = new PerSecond(WINDOW_S);
    const txRate = new PerSecond(WINDOW_S);
    const lag = new Columns(WINDOW_S, 2);
    let last = null;
    const xs = new Array(WINDOW_S).fill(0);
    const miniYs = new Array(WINDOW_S).fill(0);
    const txYs = new Array(WINDOW_S).fill(0);
    const throughput = chart(
      "chart-verified",
      [line("mini-blocks/s", color("--accent"), { scale: "mb" }), line("tx/s", color("--accent2"), { scale: "tx" })],
      {
        scales: { x: { time: true }, mb: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] }, tx: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
        axes: [timeAxis(), axis({ scale: "mb" }), axis({ scale: "tx", side: 1, grid: { show: false } })],
      },
      [xs, miniYs, txYs],
    );
    const lagChart = chart(
      "chart-lag",
      [line("lag ms", color("--accent"))],
      { scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } }, axes: [timeAxis(), axis()] },
      [[], []],
    );

    function onStatus(view) {
      const s = view.status;
      const now = Date.now() / 1000;
      if (last !== null) {
        miniRate.add(now, Math.max(0, s.verifiedMiniBlocks - last.verifiedMiniBlocks));
        txRate.add(now, Math.max(0, s.verifiedTxs - last.verifiedTxs));
      }
      last = s;
      document.getElementById("client").textContent = `verifier · ${s.mode || "full"}`;
      setField("verdict", s.verdict);
      setField("mode", s.mode, s.mode || "full re-execution");
      setField("height", s.height);
      setField("blockHash", s.blockHash, shortHash(s.blockHash));
      setField("lagMs", s.lagMs);
      setField("lagBlocks", s.lagBlocks);
      setField("verifiedTxs", s.verifiedTxs);
      setField("verifiedMiniBlocks", s.verifiedMiniBlocks);
      setField("verifiedBlocks", s.verifiedBlocks);
      setPill("health", s.verdict === "ok" ? "ok" : "bad", s.verdict === "ok" ? "verdict ok" : "MISMATCH");
      if (s.lagMs !== null) lag.push(now, s.lagMs);
      lagChart.setData(lag.cols);
      fillTable("mismatches-body", s.mismatches.slice(-20), (row, m) => {
        for (const key of ["evm_block", "mini_block", "tx_index", "field", "claimed", "recomputed"]) cell(row, format(m[key]));
      });
      document.getElementById("mismatches-note").textContent = s.mismatches.length
        ? `${numbers.format(s.mismatches.length)} mismatch(es): see the VERDICT log lines and verifier status.`
        : "None: every re-executed mini-block and block matched what the sequencer claimed.";
    }

    function redraw() {
      const now = Date.now() / 1000;
      miniRate.series(now, xs, miniYs);
      txRate.series(now, xs, txYs);
      throughput.setData([xs, miniYs, txYs]);
      setField("verifiedMiniBlocksPerSecond", Math.round(miniRate.rate(now, RATE_S) * 10) / 10);
      setField("verifiedTxsPerSecond", Math.round(txRate.rate(now, RATE_S) * 10) / 10);
    }

    return { onStatus, redraw, subscribe: () => setPill("live", "ok", "polling") };
  }

  // -- start ------------------------------------------------------------------------------------
  async function fetchStatus() {
    const response = await fetch("status.json", { cache: "no-store" });
    if (!response.ok) throw new Error(`status.json: HTTP ${response.status}`);
    return response.json();
  }

  async function start() {
    let first;
    for (;;) {
      try {
        first = await fetchStatus();
        break;
      } catch (err) {
        setPill("live", "bad", "unreachable");
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    }
    const role = first.role === "verifier" ? "verifier" : "sequencer";
    document.body.dataset.role = role;
    document.getElementById("role").textContent = `${role} dashboard`;
    document.title = `megapy ${role}`;
    document.getElementById(`${role}-view`).hidden = false;
    if (role === "verifier") document.getElementById("ws-note").hidden = true;
    const view = role === "verifier" ? verifierView() : sequencerView();
    view.onStatus(first);
    view.subscribe();

    let polling = false;
    setInterval(async () => {
      if (polling) return; // never more than one request in flight
      polling = true;
      try {
        view.onStatus(await fetchStatus());
        document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
      } catch (err) {
        setPill("health", "bad", "unreachable");
      } finally {
        polling = false;
      }
    }, POLL_MS);
    setInterval(() => {
      if (!document.hidden) view.redraw();
    }, REDRAW_MS);
    view.redraw();
    document.body.dataset.ready = "true";
  }

  start();
})();
