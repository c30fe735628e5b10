// interview_kit's BrowserAudio: the page's microphone and speakers for an interview run by the kernel.
// Loaded by anywidget from the package (no build step, no CDN). See interview_kit/audio/browser.py.

const TARGET_RATE = 24000;

function now() {
  return performance.timeOrigin + performance.now();
}

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

function bufferOf(view) {
  // a comm buffer (DataView or ArrayBuffer) as a fresh ArrayBuffer the worklet may own
  if (view instanceof ArrayBuffer) return view.slice(0);
  return view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength);
}

function render({ model, el: root }) {
  const id = Math.random().toString(36).slice(2);
  const box = el("div", { class: "ik-browser-audio" });
  const button = el("button", { class: "ik-mic-button jupyter-button", type: "button" }, "Use the browser's microphone");
  const mute = el("button", { class: "ik-mute jupyter-button", type: "button" }, "Mute");
  const meter = el("div", { class: "ik-meter", title: "microphone level" });
  const bar = el("div", { class: "ik-meter-bar" });
  const status = el("span", { class: "ik-status" });
  meter.appendChild(bar);
  box.append(button, mute, meter, status);
  root.appendChild(box);

  let ctx = null, stream = null, micNode = null, playerNode = null, seq = 0;

  const owns = () => model.get("owner") === id;
  const say = (text, kind = "") => {
    status.textContent = text;
    status.className = "ik-status" + (kind ? " ik-" + kind : "");
  };
  const setState = (state, message = "") => {
    model.set("state", state);
    model.set("message", message);
    model.save_changes();
  };

  const showActivity = () => {
    if (!owns()) return;
    const activity = model.get("activity");
    const muted = model.get("muted");
    mute.textContent = muted ? "Unmute" : "Mute";
    say(
      muted ? "microphone muted" :
      activity === "interview" ? "interview running: speak, the interviewer plays here" :
      activity === "listening" ? "the interview is listening" : "microphone on; press Start",
      muted ? "muted" : "live",
    );
  };

  if (!window.isSecureContext) {
    button.disabled = true;
    mute.disabled = true;
    say(
      "This page is not a secure context, so the browser will not give it the microphone: " +
      "open JupyterLab at http://localhost or http://127.0.0.1 (e.g. through an SSH tunnel), or over HTTPS.",
      "error",
    );
    setState("insecure", "not a secure context");
    return;
  }
  mute.disabled = true;
  say(model.get("state") === "live" ? "the microphone is used by another view of this widget" :
      "click to let this page use your microphone and speakers");

  async function start() {
    button.disabled = true;
    setState("asking");
    say("asking the browser for the microphone…");
    try {
      ctx = new AudioContext({ latencyHint: "interactive" });
      const url = URL.createObjectURL(new Blob([model.get("_worklet")], { type: "text/javascript" }));
      await ctx.audioWorklet.addModule(url);
      URL.revokeObjectURL(url);
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
      });
      const source = ctx.createMediaStreamSource(stream);
      micNode = new AudioWorkletNode(ctx, "ik-mic", {
        numberOfOutputs: 1,
        outputChannelCount: [1],
        processorOptions: { targetRate: TARGET_RATE, chunkSamples: Math.round((TARGET_RATE * model.get("chunk_ms")) / 1000) },
      });
      const sink = ctx.createGain();
      sink.gain.value = 0; // pulls the microphone's worklet through the graph without playing it
      source.connect(micNode).connect(sink).connect(ctx.destination);
      playerNode = new AudioWorkletNode(ctx, "ik-player", {
        numberOfInputs: 0,
        numberOfOutputs: 1,
        outputChannelCount: [1],
        processorOptions: { sourceRate: TARGET_RATE, jitterSamples: Math.round((TARGET_RATE * model.get("jitter_ms")) / 1000) },
      });
      playerNode.connect(ctx.destination);
      micNode.port.onmessage = (e) => onMic(e.data);
      playerNode.port.onmessage = (e) => onPlayer(e.data);
      micNode.port.postMessage({ muted: model.get("muted") });
      await ctx.resume();
      model.set("owner", id);
      setState("live", `${ctx.sampleRate} Hz, output latency ${Math.round(1000 * (ctx.outputLatency || ctx.baseLatency || 0))} ms`);
      button.textContent = "Microphone on";
      mute.disabled = false;
      showActivity();
    } catch (err) {
      const denied = err && (err.name === "NotAllowedError" || err.name === "SecurityError");
      const text = denied ? "the browser was not allowed to use the microphone (check the site's permissions)"
        : `the browser's audio did not start: ${err && err.name ? err.name + ": " : ""}${err && err.message ? err.message : err}`;
      say(text, "error");
      setState(denied ? "denied" : "error", text);
      button.disabled = false;
      if (stream) stream.getTracks().forEach((t) => t.stop());
      if (ctx) ctx.close();
      ctx = stream = micNode = playerNode = null;
    }
  }

  function onMic({ pcm, level }) {
    const db = 20 * Math.log10(Math.max(level, 1e-5));
    bar.style.width = `${Math.max(0, Math.min(100, ((db + 60) / 60) * 100))}%`;
    if (!owns()) return;
    seq += 1;
    model.send({ type: "mic", seq, t: now(), owner: id }, undefined, [pcm]);
  }

  function heardAt(frame) {
    // the moment (page clock, ms) the output frame is heard: the context's output timestamp maps
    // context time to the page's clock at the speaker, output latency included
    const ts = ctx.getOutputTimestamp();
    const frameTime = frame / ctx.sampleRate;
    if (ts && ts.performanceTime) {
      return performance.timeOrigin + ts.performanceTime + (frameTime - ts.contextTime) * 1000;
    }
    return now() + (frameTime - ctx.currentTime + (ctx.outputLatency || ctx.baseLatency || 0)) * 1000;
  }

  function onPlayer(m) {
    if (m.type === "heard" && owns()) {
      model.send({ type: "heard", seq: m.seq, at: heardAt(m.frame), owner: id });
    }
  }

  function onKernel(msg, buffers) {
    if (!msg || (msg.owner && msg.owner !== id) || !owns()) return;
    if (msg.type === "sync") {
      model.send({ type: "sync", k: msg.k, b: now(), owner: id });
    } else if (msg.type === "play" && playerNode && buffers && buffers.length) {
      const pcm = bufferOf(buffers[0]);
      playerNode.port.postMessage({ type: "chunk", rid: msg.rid, seq: msg.seq, pcm }, [pcm]);
    } else if ((msg.type === "finish" || msg.type === "flush") && playerNode) {
      playerNode.port.postMessage({ type: msg.type, rid: msg.rid });
    }
  }

  button.addEventListener("click", start);
  mute.addEventListener("click", () => {
    model.set("muted", !model.get("muted"));
    model.save_changes();
  });
  model.on("msg:custom", onKernel);
  const onMuted = () => {
    if (micNode) micNode.port.postMessage({ muted: model.get("muted") });
    showActivity();
  };
  model.on("change:muted", onMuted);
  model.on("change:activity", showActivity);

  return () => {
    model.off("msg:custom", onKernel);
    model.off("change:muted", onMuted);
    model.off("change:activity", showActivity);
    if (stream) stream.getTracks().forEach((t) => t.stop());
    if (ctx) ctx.close();
    if (owns()) {
      model.set("owner", "");
      model.set("state", "idle");
      model.save_changes();
    }
  };
}

export default { render };
