// Getting the person's attention while the tab is hidden: a "(N) " prefix
// on the title and, where wanted, a short beep made with WebAudio (no audio
// file). Browsers let a page make sound only after a gesture, so the audio
// context is opened on the first tap or key press.

export function createAttention({ beep = false, prefix = (n) => `(${n}) ` } = {}) {
  let count = 0;
  let base = document.title;
  let audio = null;

  const prime = () => {
    if (!beep || audio) return;
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    try {
      audio = new Ctx();
    } catch {
      audio = null;
    }
  };
  if (beep) {
    window.addEventListener('pointerdown', prime, { once: true, capture: true });
    window.addEventListener('keydown', prime, { once: true, capture: true });
  }

  const draw = () => {
    document.title = count ? prefix(count) + base : base;
  };

  const sound = () => {
    if (!audio) return;
    try {
      if (audio.state === 'suspended') audio.resume();
      const t0 = audio.currentTime + 0.01;
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = 'sine';
      osc.frequency.setValueAtTime(880, t0);
      gain.gain.setValueAtTime(0.0001, t0);
      gain.gain.exponentialRampToValueAtTime(0.25, t0 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + 0.25);
      osc.connect(gain);
      gain.connect(audio.destination);
      osc.start(t0);
      osc.stop(t0 + 0.3);
    } catch {
      // no sound is better than a broken page
    }
  };

  const onVisible = () => {
    if (!document.hidden && count) {
      count = 0;
      draw();
    }
  };
  document.addEventListener('visibilitychange', onVisible);

  return {
    // Something new arrived: counted (and heard) only while the tab is hidden.
    bump() {
      if (!document.hidden) return;
      count += 1;
      draw();
      if (beep) sound();
    },
    setBase(title) {
      base = title;
      draw();
    },
    reset() {
      count = 0;
      draw();
    },
  };
}
