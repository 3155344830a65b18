import type { Services } from './table';

export function refreshImagesCommand(services: Services): void {
  services.images.refresh();
}
