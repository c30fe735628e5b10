// AudioWorklets of interview_kit's BrowserAudio (loaded by browser.js from a Blob URL).
// ik-mic: the microphone, low-passed and resampled to 24 kHz PCM16, posted in chunks of `chunkSamples`.
// ik-player: the interviewer's 24 kHz PCM16, resampled to the context's rate, played after a small jitter
// buffer; posts the context frame at which each chunk's first sample is output.

function lowpass(cutoff, taps) {
  // windowed-sinc FIR, `cutoff` as a fraction of the input rate (< 0.5), unit gain at DC
  const h = new Float32Array(taps);
  const m = (taps - 1) / 2;
  let sum = 0;
  for (let i = 0; i < taps; i++) {
    const x = i - m;
    const sinc = x === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * x) / (Math.PI * x);
    const w = 0.42 - 0.5 * Math.cos((2 * Math.PI * i) / (taps - 1)) + 0.08 * Math.cos((4 * Math.PI * i) / (taps - 1));
    h[i] = sinc * w;
    sum += h[i];
  }
  for (let i = 0; i < taps; i++) h[i] /= sum;
  return h;
}

class MicProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions;
    this.step = sampleRate / o.targetRate; // input samples per output sample
    this.chunk = o.chunkSamples;
    this.taps = this.step > 1 ? lowpass((0.46 * o.targetRate) / sampleRate, 31) : new Float32Array([1]);
    this.hist = new Float32Array(this.taps.length);
    this.histPos = 0;
    this.filtered = [];
    this.pos = 0;
    this.out = new Int16Array(this.chunk);
    this.n = 0;
    this.sumsq = 0;
    this.muted = false;
    this.port.onmessage = (e) => {
      if (e.data && typeof e.data.muted === "boolean") this.muted = e.data.muted;
    };
  }

  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (!ch) return true;
    const taps = this.taps, hist = this.hist, len = taps.length;
    for (let i = 0; i < ch.length; i++) {
      hist[this.histPos] = ch[i];
      this.histPos = (this.histPos + 1) % len;
      let acc = 0;
      for (let k = 0; k < len; k++) acc += taps[k] * hist[(this.histPos + k) % len];
      this.filtered.push(acc);
    }
    const f = this.filtered;
    while (this.pos + 1 < f.length) {
      const i = Math.floor(this.pos);
      const frac = this.pos - i;
      let v = f[i] * (1 - frac) + f[i + 1] * frac;
      if (this.muted) v = 0;
      v = v > 1 ? 1 : v < -1 ? -1 : v;
      this.out[this.n++] = v < 0 ? v * 32768 : v * 32767;
      this.sumsq += v * v;
      if (this.n === this.chunk) {
        const level = Math.sqrt(this.sumsq / this.chunk);
        this.port.postMessage({ pcm: this.out.buffer, level, frame: currentFrame }, [this.out.buffer]);
        this.out = new Int16Array(this.chunk);
        this.n = 0;
        this.sumsq = 0;
      }
      this.pos += this.step;
    }
    const drop = Math.floor(this.pos);
    if (drop > 0) {
      f.splice(0, drop);
      this.pos -= drop;
    }
    return true;
  }
}

class PlayerProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions;
    this.step = o.sourceRate / sampleRate; // source samples per output sample
    this.jitter = o.jitterSamples;
    this.queue = []; // {rid, seq, data: Float32Array, reported}
    this.buffered = 0; // source samples queued
    this.pos = 0; // fractional position in queue[0]
    this.playing = false;
    this.finished = new Set();
    this.port.onmessage = (e) => this.onMessage(e.data);
  }

  onMessage(m) {
    if (m.type === "chunk") {
      const pcm = new Int16Array(m.pcm);
      const data = new Float32Array(pcm.length);
      for (let i = 0; i < pcm.length; i++) data[i] = pcm[i] / 32768;
      this.queue.push({ rid: m.rid, seq: m.seq, data, reported: false });
      this.buffered += data.length;
    } else if (m.type === "finish") {
      this.finished.add(m.rid);
    } else if (m.type === "flush") {
      this.queue = [];
      this.buffered = 0;
      this.pos = 0;
      this.playing = false;
    }
  }

  process(_inputs, outputs) {
    const out = outputs[0][0];
    if (!this.playing) {
      const last = this.queue[this.queue.length - 1];
      if (this.buffered >= this.jitter || (last && this.finished.has(last.rid))) this.playing = true;
    }
    let i = 0;
    if (this.playing) {
      while (i < out.length) {
        const head = this.queue[0];
        if (!head) {
          this.playing = false; // ran dry: wait for the jitter buffer again
          break;
        }
        if (!head.reported) {
          head.reported = true;
          this.port.postMessage({ type: "heard", seq: head.seq, frame: currentFrame + i });
        }
        const k = Math.floor(this.pos);
        const frac = this.pos - k;
        const a = head.data[k];
        const next = k + 1 < head.data.length ? head.data[k + 1] : this.queue[1] ? this.queue[1].data[0] : a;
        out[i++] = a * (1 - frac) + next * frac;
        this.pos += this.step;
        if (this.pos >= head.data.length) {
          this.pos -= head.data.length;
          this.buffered -= head.data.length;
          this.queue.shift();
        }
      }
    }
    for (; i < out.length; i++) out[i] = 0;
    return true;
  }
}

registerProcessor("ik-mic", MicProcessor);
registerProcessor("ik-player", PlayerProcessor);
