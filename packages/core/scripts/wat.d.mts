export function compileWat(fileName: string, source: string): Promise<Uint8Array>;
export function generatedModuleFor(fileName: string, bytes: Uint8Array): string;
