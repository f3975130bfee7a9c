// The Live page's microphone tap (an AudioWorklet): the context's float samples, at whatever rate the browser runs
// it, resampled (linear interpolation, its position kept across blocks) to the session's 24 kHz and posted to the
// page as 16-bit PCM, 100 ms at a time: what OpenAI's Realtime `audio/pcm` is.

const TARGET_RATE = 24000;
const CHUNK = TARGET_RATE / 10;

class PcmTap extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / TARGET_RATE; // input samples per output sample
    this.position = 0; // where the next output sample falls, in input samples of this block (-1: the one before's last)
    this.previous = 0; // the last input sample of the block before
    this.out = new Int16Array(CHUNK);
    this.filled = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    // index -1 is the block before's last sample, so that interpolation runs across block boundaries
    const at = (index) => (index < 0 ? this.previous : channel[index]);
    while (this.position < channel.length - 1) {
      const base = Math.floor(this.position);
      const fraction = this.position - base;
      const value = at(base) + (at(base + 1) - at(base)) * fraction;
      this.out[this.filled++] = Math.max(-1, Math.min(1, value)) * 0x7fff;
      if (this.filled === CHUNK) {
        this.port.postMessage(this.out.buffer, [this.out.buffer]);
        this.out = new Int16Array(CHUNK);
        this.filled = 0;
      }
      this.position += this.step;
    }
    this.position -= channel.length;
    this.previous = channel[channel.length - 1];
    return true;
  }
}

registerProcessor("pcm-tap", PcmTap);
