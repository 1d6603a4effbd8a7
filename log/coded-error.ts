/**
 * What every folder's one error type is: an Error with a string code and a message that says
 * what was wrong. Each folder declares its codes and a class of its own over this one; the
 * class's name becomes the error's `name` (the control protocol carries it).
 */
export abstract class CodedError<C extends string> extends Error {
  readonly code: C;
  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}
