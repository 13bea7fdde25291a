// Types of typewriter.js.

export interface TypewriterOptions {
  /** Milliseconds between renders. Default 50. */
  interval?: number;
  /** New text is revealed evenly over about this many intervals. Default 6. */
  catchUpTicks?: number;
  /** After finish(), the rest is revealed within about this many intervals. Default 4. */
  finishTicks?: number;
}

export interface Typewriter {
  /** The whole text so far (onText's argument). */
  update(text: string): void;
  /** The stream ended: reveal the rest, then render(text, true) once. */
  finish(): void;
  /** Stop now; render is not called again. */
  cancel(): void;
}

export function createTypewriter(render: (text: string, finished: boolean) => void, options?: TypewriterOptions): Typewriter;

/** The first character boundary at or after code unit i. */
export function boundaryFrom(text: string, i: number): number;
