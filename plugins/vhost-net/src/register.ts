import type { Hook } from '@oclif/core';
import type {} from '@volt/core/dist/di/registration';

/** Registers nothing yet; the drivers of this plugin arrive with their issue. */
const registerDrivers: Hook<'volt:register-drivers'> = async function () {};

export default registerDrivers;
